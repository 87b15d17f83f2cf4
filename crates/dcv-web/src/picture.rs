//! Geometry for the two pictures, computed here so the templates only place
//! boxes, lines and (escaped) text: the DNSSEC chain as a top-down tree
//! (trust anchor, root, TLD, each zone, then the answers the CA needs), and
//! the HTTP attempts as bars per hop.

use crate::views::{BrokenLink, DnssecView, HttpTimeline, LinkStatus};

/// Zone box width and the gap between columns, in SVG units (px).
const BOX_W: i32 = 236;
const GAP_X: i32 = 22;
/// Height of a text line and the padding in a box.
const LINE_H: i32 = 15;
const PAD: i32 = 8;
/// Vertical gap between rows (room for the link label).
const GAP_Y: i32 = 46;
/// Characters that fit on a box line (monospace, 11 px).
const LINE_CHARS: usize = 34;
/// DS records and keys listed per box before "+N more".
const LISTED: usize = 3;
/// Width of the longest timeline bar.
pub const BAR_W: i32 = 320;

/// One line of text in a box.
#[derive(Debug, Clone)]
pub struct TextLine {
    pub x: i32,
    pub y: i32,
    pub text: String,
    /// CSS class: `title`, `ok`, `bad`, `note`.
    pub class: &'static str,
}

/// A box: a zone or an answer.
#[derive(Debug, Clone)]
pub struct NodeBox {
    pub x: i32,
    pub y: i32,
    pub w: i32,
    pub h: i32,
    /// `zone secure`, `answer bogus broken`, ...
    pub class: String,
    /// The full text, as a tooltip (`<title>`).
    pub title: String,
    pub lines: Vec<TextLine>,
}

/// A link between two boxes, coloured by the lower end's status.
#[derive(Debug, Clone)]
pub struct Edge {
    pub x1: i32,
    pub y1: i32,
    pub x2: i32,
    pub y2: i32,
    pub class: String,
    pub label: String,
    pub label_x: i32,
    pub label_y: i32,
    pub title: String,
}

/// The chain picture, ready to draw.
#[derive(Debug, Clone, Default)]
pub struct ChainPicture {
    pub width: i32,
    pub height: i32,
    pub boxes: Vec<NodeBox>,
    pub edges: Vec<Edge>,
    /// The highlighted link's words, for the caption.
    pub broken: Option<String>,
}

fn clip(text: &str) -> String {
    if text.chars().count() <= LINE_CHARS {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(LINE_CHARS - 1).collect();
        format!("{cut}…")
    }
}

/// Children of each zone in the tree: zones, then answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Node {
    Zone(usize),
    Answer(usize),
}

fn zone_lines(view: &DnssecView, i: usize) -> Vec<(String, &'static str)> {
    let z = &view.zones[i];
    let mut lines = vec![(z.zone.clone(), "title")];
    let source = if z.anchored { "trust anchor" } else { "DS" };
    if z.ds.is_empty() {
        lines.push((format!("no {source}"), "note"));
    } else {
        let shown: Vec<&str> = z.ds.iter().take(LISTED).map(String::as_str).collect();
        let more = z.ds.len().saturating_sub(LISTED);
        let tail = if more > 0 {
            format!(" +{more}")
        } else {
            String::new()
        };
        lines.push((format!("{source} {}{tail}", shown.join(" ")), "note"));
    }
    for k in z.keys.iter().take(LISTED) {
        let role = if k.ksk { "KSK" } else { "ZSK" };
        let marks = match (k.matches_ds, k.signs_dnskey_rrset) {
            (true, true) => " DS✓ sig✓",
            (true, false) => " DS✓ sig✗",
            (false, true) => " sig✓",
            (false, false) => "",
        };
        let class = if k.matches_ds && !k.signs_dnskey_rrset {
            "bad"
        } else {
            "ok"
        };
        lines.push((
            format!("{role} {} alg {}{marks}", k.key_tag, k.algorithm),
            class,
        ));
    }
    if z.keys.len() > LISTED {
        lines.push((format!("+{} more keys", z.keys.len() - LISTED), "note"));
    }
    if z.keys.is_empty() && z.status != LinkStatus::Unknown {
        lines.push(("no DNSKEY".to_owned(), "note"));
    }
    lines
}

fn answer_lines(view: &DnssecView, i: usize) -> Vec<(String, &'static str)> {
    let a = &view.answers[i];
    let mut lines = vec![(a.query.clone(), "title")];
    if a.records.is_empty() {
        lines.push((a.outcome.clone(), "note"));
    }
    for r in &a.records {
        // Owner and type are in the title line: show the data.
        let data = r.splitn(3, ' ').nth(2).unwrap_or(r);
        lines.push((data.to_owned(), "note"));
    }
    if a.more_records > 0 {
        lines.push((format!("+{} more", a.more_records), "note"));
    }
    lines
}

impl ChainPicture {
    /// Lays out `view` top-down: every zone under its parent, every answer
    /// under the zone that served it; leaves side by side, parents centred
    /// over their children.
    pub fn layout(view: &DnssecView) -> ChainPicture {
        if view.zones.is_empty() && view.answers.is_empty() {
            return ChainPicture::default();
        }
        let mut children: Vec<Vec<Node>> = vec![Vec::new(); view.zones.len()];
        let mut tops: Vec<Node> = Vec::new();
        for (i, z) in view.zones.iter().enumerate() {
            match z.parent {
                Some(p) => children[p].push(Node::Zone(i)),
                None => tops.push(Node::Zone(i)),
            }
        }
        for (i, a) in view.answers.iter().enumerate() {
            match a.zone {
                Some(z) => children[z].push(Node::Answer(i)),
                None => tops.push(Node::Answer(i)),
            }
        }
        let broken = view.first_broken();
        let lines_of = |n: Node| match n {
            Node::Zone(i) => zone_lines(view, i),
            Node::Answer(i) => answer_lines(view, i),
        };
        let height_of = |n: Node| {
            let count = i32::try_from(lines_of(n).len()).unwrap_or(1);
            count * LINE_H + 2 * PAD
        };
        // Depth of each node and the tallest box per depth.
        let mut depth_h: Vec<i32> = Vec::new();
        let mut order: Vec<(Node, usize)> = Vec::new();
        let mut stack: Vec<(Node, usize)> = tops.iter().rev().map(|n| (*n, 0)).collect();
        while let Some((n, d)) = stack.pop() {
            if depth_h.len() <= d {
                depth_h.push(0);
            }
            depth_h[d] = depth_h[d].max(height_of(n));
            order.push((n, d));
            if let Node::Zone(i) = n {
                for c in children[i].iter().rev() {
                    stack.push((*c, d + 1));
                }
            }
        }
        let mut row_y = vec![PAD; depth_h.len()];
        for d in 1..depth_h.len() {
            row_y[d] = row_y[d - 1] + depth_h[d - 1] + GAP_Y;
        }
        // x: leaves in DFS order take the next column; a zone sits over
        // the middle of its children.
        let mut zone_x: Vec<Option<i32>> = vec![None; view.zones.len()];
        let mut answer_x: Vec<i32> = vec![0; view.answers.len()];
        let mut next_col = 0;
        let col_x = |c: i32| PAD + c * (BOX_W + GAP_X);
        for (n, _) in order.iter().rev() {
            match *n {
                Node::Answer(i) => {
                    answer_x[i] = col_x(next_col);
                    next_col += 1;
                }
                Node::Zone(i) => {
                    let xs: Vec<i32> = children[i]
                        .iter()
                        .map(|c| match *c {
                            Node::Zone(j) => zone_x[j].unwrap_or(0),
                            Node::Answer(j) => answer_x[j],
                        })
                        .collect();
                    zone_x[i] = Some(if xs.is_empty() {
                        let x = col_x(next_col);
                        next_col += 1;
                        x
                    } else {
                        (xs.iter().min().unwrap_or(&0) + xs.iter().max().unwrap_or(&0)) / 2
                    });
                }
            }
        }
        // Reverse DFS visits later subtrees first: mirror the columns so the
        // first lookup's answers are on the left.
        let width = col_x(next_col) - GAP_X + PAD;
        let mirror = |x: i32| width - x - BOX_W;
        let mut picture = ChainPicture {
            width,
            height: row_y.last().copied().unwrap_or(0) + depth_h.last().copied().unwrap_or(0) + PAD,
            ..ChainPicture::default()
        };
        let mut place: Vec<(Node, i32, i32, i32)> = Vec::new(); // node, x, y, h
        for (n, d) in &order {
            let x = match *n {
                Node::Zone(i) => mirror(zone_x[i].unwrap_or(0)),
                Node::Answer(i) => mirror(answer_x[i]),
            };
            place.push((*n, x, row_y[*d], height_of(*n)));
        }
        let position = |n: Node| place.iter().find(|p| p.0 == n).map(|p| (p.1, p.2, p.3));
        for &(n, x, y, h) in &place {
            let (status, reason, is_broken, kind) = match n {
                Node::Zone(i) => {
                    let z = &view.zones[i];
                    (
                        z.status,
                        z.reason.clone(),
                        broken == Some(BrokenLink::Zone(i)),
                        "zone",
                    )
                }
                Node::Answer(i) => {
                    let a = &view.answers[i];
                    (
                        a.status,
                        a.reason.clone(),
                        broken == Some(BrokenLink::Answer(i)),
                        "answer",
                    )
                }
            };
            let lines = lines_of(n);
            let mut title: Vec<String> = lines.iter().map(|(t, _)| t.clone()).collect();
            title.push(format!("status: {}", status.label()));
            if let Some(r) = &reason {
                title.push(r.clone());
            }
            if let Node::Zone(i) = n {
                title.extend(view.zones[i].notes.iter().cloned());
            }
            picture.boxes.push(NodeBox {
                x,
                y,
                w: BOX_W,
                h,
                class: format!(
                    "{kind} {}{}",
                    status_class(status),
                    if is_broken { " broken" } else { "" }
                ),
                title: title.join("\n"),
                lines: lines
                    .iter()
                    .enumerate()
                    .map(|(k, (text, class))| TextLine {
                        x: x + PAD,
                        y: y + PAD + LINE_H * (i32::try_from(k).unwrap_or(0) + 1) - 3,
                        text: clip(text),
                        class,
                    })
                    .collect(),
            });
            // The link from the parent: the parent's DS to this zone's keys
            // (RFC 4035 §5.2), or the zone's signature over the answer.
            let parent = match n {
                Node::Zone(i) => view.zones[i].parent.map(Node::Zone),
                Node::Answer(i) => view.answers[i].zone.map(Node::Zone),
            };
            if let Some((px, py, ph)) = parent.and_then(position) {
                let (x1, y1, x2, y2) = (px + BOX_W / 2, py + ph, x + BOX_W / 2, y);
                let label = match (n, status) {
                    (_, LinkStatus::Unknown) => "?".to_owned(),
                    (_, s) if s.is_broken() => format!("✗ {}", s.label()),
                    (Node::Zone(_), s) => format!("DS→DNSKEY {}", s.label()),
                    (Node::Answer(_), s) => format!("RRSIG {}", s.label()),
                };
                if is_broken {
                    picture.broken = Some(format!(
                        "{}: {}",
                        lines.first().map_or("", |l| l.0.as_str()),
                        reason.clone().unwrap_or_else(|| status.label().to_owned())
                    ));
                }
                picture.edges.push(Edge {
                    x1,
                    y1,
                    x2,
                    y2,
                    class: format!(
                        "link {}{}",
                        status_class(status),
                        if is_broken { " broken" } else { "" }
                    ),
                    label,
                    label_x: i32::midpoint(x1, x2) + 6,
                    label_y: i32::midpoint(y1, y2) + 4,
                    title: reason.unwrap_or_else(|| status.label().to_owned()),
                });
            } else if is_broken {
                picture.broken = Some(format!(
                    "{}: {}",
                    lines.first().map_or("", |l| l.0.as_str()),
                    reason.unwrap_or_else(|| status.label().to_owned())
                ));
            }
        }
        picture
    }
}

fn status_class(s: LinkStatus) -> &'static str {
    match s {
        LinkStatus::Secure => "secure",
        LinkStatus::Insecure => "insecure",
        LinkStatus::Unknown => "unknown",
        LinkStatus::Indeterminate => "indeterminate",
        LinkStatus::Bogus => "bogus",
    }
}

/// One bar segment of the HTTP timeline.
#[derive(Debug, Clone)]
pub struct Segment {
    pub x: i32,
    pub w: i32,
    pub class: String,
    pub title: String,
}

/// One hop as a row: its words and its bar.
#[derive(Debug, Clone)]
pub struct HopRow {
    pub url: String,
    pub address: String,
    pub status: String,
    pub location: Option<String>,
    pub error: Option<String>,
    pub total: String,
    pub segments: Vec<Segment>,
}

/// One starting address.
#[derive(Debug, Clone)]
pub struct AttemptRow {
    pub family: String,
    pub address: String,
    pub ca_path: bool,
    pub outcome: String,
    pub healthy: bool,
    pub hops: Vec<HopRow>,
}

/// The HTTP timeline, ready to draw.
#[derive(Debug, Clone)]
pub struct TimelinePicture {
    pub bar_w: i32,
    pub rows: Vec<AttemptRow>,
}

impl TimelinePicture {
    /// Bars scaled so the longest hop fills [`BAR_W`]; every phase at
    /// least 2 px wide so a fast one still shows.
    pub fn layout(t: &HttpTimeline) -> TimelinePicture {
        let longest = t.longest_ms().max(1.0);
        let px = |ms: f64| -> i32 {
            let w = (ms / longest * f64::from(BAR_W)).round();
            // Bounded by BAR_W above; the cast cannot truncate.
            #[allow(clippy::cast_possible_truncation)]
            let w = w.clamp(2.0, f64::from(BAR_W)) as i32;
            w
        };
        let rows = t
            .attempts
            .iter()
            .map(|a| AttemptRow {
                family: a.family.clone(),
                address: a.address.clone(),
                ca_path: a.ca_path,
                outcome: a.outcome.clone(),
                healthy: a.healthy,
                hops: a
                    .hops
                    .iter()
                    .map(|h| {
                        let mut x = 0;
                        let mut segments: Vec<Segment> = h
                            .phases
                            .iter()
                            .map(|p| {
                                let w = px(p.ms);
                                let s = Segment {
                                    x,
                                    w,
                                    class: format!("phase {}", p.name),
                                    title: format!("{} {:.1} ms", p.name, p.ms),
                                };
                                x += w;
                                s
                            })
                            .collect();
                        if let Some(phase) = &h.failed_phase {
                            segments.push(Segment {
                                x: x.min(BAR_W - 4),
                                w: 4,
                                class: "phase failed".to_owned(),
                                title: format!(
                                    "failed in {phase}: {}",
                                    h.error.clone().unwrap_or_default()
                                ),
                            });
                        }
                        HopRow {
                            url: h.url.clone(),
                            address: h.address.clone().unwrap_or_else(|| "-".to_owned()),
                            status: h
                                .status
                                .map_or_else(|| "no response".to_owned(), |s| s.to_string()),
                            location: h.location.clone(),
                            error: h.error.clone(),
                            total: format!("{:.0} ms", h.total_ms),
                            segments,
                        }
                    })
                    .collect(),
            })
            .collect();
        TimelinePicture { bar_w: BAR_W, rows }
    }
}
