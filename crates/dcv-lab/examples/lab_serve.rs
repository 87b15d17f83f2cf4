//! Serves a catalogue scenario until interrupted, for poking at with dig/delv:
//! `cargo run -p dcv-lab --example lab_serve -- valid [port]`.

use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "valid".to_owned());
    let port: u16 = args.next().map_or(Ok(0), |p| p.parse())?;
    let Some(scenario) = dcv_lab::catalogue::by_name(&name) else {
        let names: Vec<String> = dcv_lab::catalogue::all()
            .into_iter()
            .map(|s| s.name)
            .collect();
        return Err(format!("unknown scenario {name}; known: {}", names.join(", ")).into());
    };
    let lab = dcv_lab::Lab::start_on_port(scenario, port).await?;
    println!("port {}", lab.dns_port());
    print!("{}", lab.root_hints_zone());
    if let Some(ds) = lab.trust_anchor_ds() {
        println!("{ds}");
    }
    for s in &lab.scenario().servers {
        println!("{} {:?}", s.name, lab.server_addrs(&s.name));
    }
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}
