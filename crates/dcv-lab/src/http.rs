//! Lab HTTP/HTTPS responders (serving tokens, redirects, challenge and block pages).
