//! The compact text forms the command line takes and the tables print: security rules
//! (`ingress tcp 22 from 0.0.0.0/0`), load-balancer services (`web tcp 80 to 8080`), backends
//! (`web=PORT_ID:100`), health checks (`web http path /healthz`), static leases
//! (`02:00:00:00:00:01=198.18.0.10`) and durations (`30s`). Parsing and formatting are pure; a rule
//! printed by [`format_rule`] parses back to the same rule.

use std::time::Duration;

use sdn_proto::v1 as pb;
use sdn_proto::v1::security_rule::{Protocol, Remote};

/// Parses a duration: a number followed by `ms`, `s`, `m`, `h` or `d` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (examples: 500ms, 30s, 2m, 1h)"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        "d" => Duration::from_secs(n * 86400),
        _ => {
            return Err(format!(
                "`{s}`: unknown unit `{unit}` (use ms, s, m, h or d)"
            ));
        }
    };
    Ok(d)
}

/// Formats a duration the way [`parse_duration`] reads it, or in fractional milliseconds below 1 s.
pub fn format_duration(d: Duration) -> String {
    if d.as_millis() < 1000 {
        let ms = d.as_secs_f64() * 1000.0;
        if ms < 10.0 {
            format!("{ms:.1}ms")
        } else {
            format!("{ms:.0}ms")
        }
    } else if d.as_secs() < 120 {
        format!("{:.2}s", d.as_secs_f64())
    } else {
        format!("{}m{}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

fn parse_u32(what: &str, s: &str, max: u32) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(format!("{what} `{s}` is not a number from 0 to {max}")),
    }
}

fn direction_name(d: i32) -> &'static str {
    match pb::Direction::try_from(d) {
        Ok(pb::Direction::Ingress) => "ingress",
        Ok(pb::Direction::Egress) => "egress",
        _ => "unspecified",
    }
}

/// The protocol of a rule as a word: `tcp`, `udp`, `icmp`, `icmpv6`, `sctp`, `all`, or its number.
pub fn protocol_name(p: Option<&Protocol>) -> String {
    match p {
        Some(Protocol::ProtocolName(n)) => match pb::ProtocolName::try_from(*n) {
            Ok(pb::ProtocolName::All) => "all".into(),
            Ok(pb::ProtocolName::Tcp) => "tcp".into(),
            Ok(pb::ProtocolName::Udp) => "udp".into(),
            Ok(pb::ProtocolName::Icmp) => "icmp".into(),
            Ok(pb::ProtocolName::Icmpv6) => "icmpv6".into(),
            Ok(pb::ProtocolName::Sctp) => "sctp".into(),
            _ => "unspecified".into(),
        },
        Some(Protocol::ProtocolNumber(n)) => n.to_string(),
        None => "unspecified".into(),
    }
}

/// The IP protocol number of a rule's protocol; `None` for `all`.
pub fn protocol_number(p: Option<&Protocol>) -> Option<u32> {
    match p {
        Some(Protocol::ProtocolName(n)) => match pb::ProtocolName::try_from(*n) {
            Ok(pb::ProtocolName::Tcp) => Some(6),
            Ok(pb::ProtocolName::Udp) => Some(17),
            Ok(pb::ProtocolName::Icmp) => Some(1),
            Ok(pb::ProtocolName::Icmpv6) => Some(58),
            Ok(pb::ProtocolName::Sctp) => Some(132),
            _ => None,
        },
        Some(Protocol::ProtocolNumber(n)) => Some(*n),
        None => None,
    }
}

fn parse_protocol(s: &str) -> Result<Protocol, String> {
    let named = |n: pb::ProtocolName| Ok(Protocol::ProtocolName(n as i32));
    match s.to_ascii_lowercase().as_str() {
        "all" | "any" => named(pb::ProtocolName::All),
        "tcp" => named(pb::ProtocolName::Tcp),
        "udp" => named(pb::ProtocolName::Udp),
        "icmp" => named(pb::ProtocolName::Icmp),
        "icmpv6" => named(pb::ProtocolName::Icmpv6),
        "sctp" => named(pb::ProtocolName::Sctp),
        "gre" => Ok(Protocol::ProtocolNumber(47)),
        "esp" => Ok(Protocol::ProtocolNumber(50)),
        "ah" => Ok(Protocol::ProtocolNumber(51)),
        other => other.parse::<u32>().map(Protocol::ProtocolNumber).map_err(|_| {
            format!(
                "unknown protocol `{s}` (tcp, udp, icmp, icmpv6, sctp, all, gre, esp, ah, or a number)"
            )
        }),
    }
}

/// The port range of a rule as text: `22`, `8000-8080`, or empty for every port.
pub fn format_ports(from: u32, to: u32) -> String {
    match (from, to) {
        (0, 0) => String::new(),
        (f, t) if t == 0 || t == f => f.to_string(),
        (f, t) => format!("{f}-{t}"),
    }
}

/// Formats a rule in the form [`parse_rule`] reads (without its description).
pub fn format_rule(r: &pb::SecurityRule) -> String {
    let mut words = vec![
        direction_name(r.direction).to_string(),
        protocol_name(r.protocol.as_ref()),
    ];
    let ports = format_ports(r.port_from, r.port_to);
    if !ports.is_empty() {
        words.push(ports);
    }
    if let Some(t) = r.icmp_type {
        words.push(format!("type {t}"));
    }
    if let Some(c) = r.icmp_code {
        words.push(format!("code {c}"));
    }
    let towards = if r.direction == pb::Direction::Egress as i32 {
        "to"
    } else {
        "from"
    };
    match &r.remote {
        Some(Remote::RemoteCidr(c)) => words.push(format!("{towards} {c}")),
        Some(Remote::RemoteGroupId(g)) => words.push(format!("{towards} group:{g}")),
        None => {}
    }
    words.join(" ")
}

/// Parses a rule: `DIRECTION PROTOCOL [PORT|FROM-TO] [type T [code C]] [from|to REMOTE] [desc TEXT...]`
/// where REMOTE is a CIDR, `group:ID` (another security group's members) or `any`.
pub fn parse_rule(spec: &str) -> Result<pb::SecurityRule, String> {
    let err = |m: String| format!("rule `{spec}`: {m}");
    let mut words = spec.split_whitespace().peekable();
    let direction = match words.next() {
        Some("ingress") | Some("in") => pb::Direction::Ingress as i32,
        Some("egress") | Some("out") => pb::Direction::Egress as i32,
        Some(w) => return Err(err(format!("`{w}` is not a direction (ingress or egress)"))),
        None => return Err(err("empty; example: `ingress tcp 22 from 0.0.0.0/0`".into())),
    };
    let proto = words
        .next()
        .ok_or_else(|| err("missing the protocol after the direction".into()))?;
    let mut rule = pb::SecurityRule {
        direction,
        protocol: Some(parse_protocol(proto).map_err(err)?),
        ..Default::default()
    };
    if let Some(w) = words.peek()
        && w.starts_with(|c: char| c.is_ascii_digit())
    {
        let (from, to) = match w.split_once('-') {
            Some((f, t)) => (
                parse_u32("port", f, 65535).map_err(err)?,
                parse_u32("port", t, 65535).map_err(err)?,
            ),
            None => {
                let p = parse_u32("port", w, 65535).map_err(err)?;
                (p, p)
            }
        };
        rule.port_from = from;
        rule.port_to = to;
        words.next();
    }
    while let Some(w) = words.next() {
        let mut value = |name: &str| {
            words
                .next()
                .ok_or_else(|| err(format!("`{name}` needs a value")))
        };
        match w {
            "type" => {
                rule.icmp_type = Some(parse_u32("icmp type", value("type")?, 255).map_err(err)?)
            }
            "code" => {
                rule.icmp_code = Some(parse_u32("icmp code", value("code")?, 255).map_err(err)?)
            }
            "from" | "to" => {
                let r = value(w)?;
                rule.remote = if r == "any" {
                    None
                } else if let Some(g) = r.strip_prefix("group:").or_else(|| r.strip_prefix("sg:")) {
                    Some(Remote::RemoteGroupId(g.to_string()))
                } else {
                    Some(Remote::RemoteCidr(r.to_string()))
                };
            }
            "desc" | "description" => {
                rule.description = words.by_ref().collect::<Vec<_>>().join(" ");
            }
            other => {
                return Err(err(format!(
                    "unexpected `{other}` (expected a port range, type, code, from, to or desc)"
                )));
            }
        }
    }
    Ok(rule)
}

fn lb_protocol_name(p: i32) -> &'static str {
    match pb::LbProtocol::try_from(p) {
        Ok(pb::LbProtocol::Udp) => "udp",
        _ => "tcp",
    }
}

fn strategy_name(s: i32) -> &'static str {
    match pb::LbStrategy::try_from(s) {
        Ok(pb::LbStrategy::SourceIp) => "source-ip",
        _ => "maglev",
    }
}

/// Formats a service in the form [`parse_service`] reads (`web tcp 80 to 8080 maglev`).
pub fn format_service(s: &pb::LbService) -> String {
    format!(
        "{} {} {} to {} {}",
        s.name,
        lb_protocol_name(s.protocol),
        s.port,
        s.target_port,
        strategy_name(s.strategy)
    )
}

/// Parses a service: `NAME tcp|udp PORT [to TARGET_PORT] [maglev|source-ip]`.
pub fn parse_service(spec: &str) -> Result<pb::LbService, String> {
    let err = |m: String| format!("service `{spec}`: {m}");
    let words: Vec<&str> = spec.split_whitespace().collect();
    let [name, proto, port, rest @ ..] = words.as_slice() else {
        return Err(err(
            "expected `NAME tcp|udp PORT [to TARGET_PORT] [maglev|source-ip]`".into(),
        ));
    };
    let protocol = match *proto {
        "tcp" => pb::LbProtocol::Tcp,
        "udp" => pb::LbProtocol::Udp,
        p => return Err(err(format!("`{p}` is not tcp or udp"))),
    };
    let port = parse_u32("port", port, 65535).map_err(err)?;
    let mut service = pb::LbService {
        name: name.to_string(),
        protocol: protocol as i32,
        port,
        target_port: port,
        strategy: pb::LbStrategy::Maglev as i32,
        ..Default::default()
    };
    let mut rest = rest.iter();
    while let Some(w) = rest.next() {
        match *w {
            "to" => {
                let t = rest
                    .next()
                    .ok_or_else(|| err("`to` needs the target port".into()))?;
                service.target_port = parse_u32("target port", t, 65535).map_err(err)?;
            }
            "maglev" => service.strategy = pb::LbStrategy::Maglev as i32,
            "source-ip" => service.strategy = pb::LbStrategy::SourceIp as i32,
            other => {
                return Err(err(format!(
                    "unexpected `{other}` (expected `to PORT`, maglev or source-ip)"
                )));
            }
        }
    }
    Ok(service)
}

/// The weight a backend gets when `--backend` names none.
pub const DEFAULT_WEIGHT: u32 = 100;

/// Parses a backend: `SERVICE=PORT_ID[:WEIGHT]` (weight 0 drains; default [`DEFAULT_WEIGHT`]).
pub fn parse_backend(spec: &str) -> Result<(String, pb::LbBackend), String> {
    let err = |m: &str| format!("backend `{spec}`: {m}; expected SERVICE=PORT_ID[:WEIGHT]");
    let (service, rest) = spec.split_once('=').ok_or_else(|| err("no `=`"))?;
    let (port, weight) = match rest.split_once(':') {
        Some((p, w)) => (
            p,
            parse_u32("weight", w, 1000).map_err(|e| format!("backend `{spec}`: {e}"))?,
        ),
        None => (rest, DEFAULT_WEIGHT),
    };
    if service.is_empty() || port.is_empty() {
        return Err(err("empty service or port id"));
    }
    Ok((
        service.to_string(),
        pb::LbBackend {
            port_id: port.to_string(),
            weight,
            ..Default::default()
        },
    ))
}

/// Parses a health check: `SERVICE tcp|http [path P] [status N] [port N] [interval D] [timeout D]
/// [down N] [up N]`.
pub fn parse_health_check(spec: &str) -> Result<(String, pb::HealthCheck), String> {
    let err = |m: String| format!("health check `{spec}`: {m}");
    let mut words = spec.split_whitespace();
    let service = words
        .next()
        .ok_or_else(|| err("expected `SERVICE tcp|http [path P] [status N] ...`".into()))?;
    let mode = match words.next() {
        Some("tcp") => pb::HealthCheckMode::Tcp,
        Some("http") => pb::HealthCheckMode::Http,
        Some(m) => return Err(err(format!("`{m}` is not tcp or http"))),
        None => return Err(err("missing the mode (tcp or http)".into())),
    };
    let mut hc = pb::HealthCheck {
        mode: mode as i32,
        ..Default::default()
    };
    while let Some(key) = words.next() {
        let v = words
            .next()
            .ok_or_else(|| err(format!("`{key}` needs a value")))?;
        let ms = |v: &str| -> Result<u32, String> {
            let d = parse_duration(v).map_err(err)?;
            u32::try_from(d.as_millis()).map_err(|_| err(format!("`{v}` is too long")))
        };
        match key {
            "path" => hc.http_path = v.to_string(),
            "status" => hc.http_expected_status = parse_u32("status", v, 999).map_err(err)?,
            "port" => hc.port = parse_u32("port", v, 65535).map_err(err)?,
            "interval" => hc.interval_ms = ms(v)?,
            "timeout" => hc.timeout_ms = ms(v)?,
            "down" => hc.retries_down = parse_u32("down", v, 1000).map_err(err)?,
            "up" => hc.retries_up = parse_u32("up", v, 1000).map_err(err)?,
            other => {
                return Err(err(format!(
                    "unknown `{other}` (path, status, port, interval, timeout, down, up)"
                )));
            }
        }
    }
    Ok((service.to_string(), hc))
}

/// Parses a static lease: `MAC=IPV4[,IPV6]`.
pub fn parse_static_lease(spec: &str) -> Result<pb::StaticLease, String> {
    let (mac, addrs) = spec
        .split_once('=')
        .ok_or_else(|| format!("static lease `{spec}`: expected MAC=IPV4[,IPV6]"))?;
    let (v4, v6) = addrs.split_once(',').unwrap_or((addrs, ""));
    Ok(pb::StaticLease {
        mac: mac.to_ascii_lowercase(),
        ipv4: v4.to_string(),
        ipv6: v6.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("1w").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("soon").is_err());
        assert_eq!(format_duration(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(format_duration(Duration::from_millis(42)), "42ms");
        assert_eq!(format_duration(Duration::from_millis(2500)), "2.50s");
        assert_eq!(format_duration(Duration::from_secs(150)), "2m30s");
    }

    #[test]
    fn rules_parse_and_print_back() {
        for spec in [
            "ingress tcp 22 from 0.0.0.0/0",
            "ingress tcp 8000-8080 from 198.51.100.0/24",
            "egress udp 53 to 10.0.0.0/8",
            "egress all",
            "ingress icmp type 8 code 0 from group:0b6f2f5e-7a51-4c8e-9a4e-1f7bd35e36a0",
            "ingress icmpv6 type 128",
            "ingress 47 from 2001:db8::/32",
            "ingress sctp 3868",
        ] {
            let r = parse_rule(spec).unwrap();
            assert_eq!(format_rule(&r), spec);
        }
    }

    #[test]
    fn rule_fields() {
        let r = parse_rule("ingress tcp 22 from sg:abc desc ssh from the bastion").unwrap();
        assert_eq!(r.direction, pb::Direction::Ingress as i32);
        assert_eq!(
            r.protocol,
            Some(Protocol::ProtocolName(pb::ProtocolName::Tcp as i32))
        );
        assert_eq!((r.port_from, r.port_to), (22, 22));
        assert_eq!(r.remote, Some(Remote::RemoteGroupId("abc".into())));
        assert_eq!(r.description, "ssh from the bastion");
        let esp = parse_rule("ingress esp from any").unwrap();
        assert_eq!(esp.protocol, Some(Protocol::ProtocolNumber(50)));
        assert_eq!(esp.remote, None);
        assert_eq!(protocol_number(esp.protocol.as_ref()), Some(50));
    }

    #[test]
    fn rule_errors_name_the_problem() {
        let cases = [
            ("", "empty"),
            ("sideways tcp", "not a direction"),
            ("ingress", "missing the protocol"),
            ("ingress carrier-pigeon", "unknown protocol"),
            ("ingress tcp 70000", "port `70000`"),
            ("ingress tcp 22 from", "`from` needs a value"),
            ("ingress tcp 22 via x", "unexpected `via`"),
        ];
        for (spec, want) in cases {
            let e = parse_rule(spec).unwrap_err();
            assert!(e.contains(want), "{spec:?}: {e}");
        }
    }

    #[test]
    fn services_backends_checks_leases() {
        let s = parse_service("web tcp 80 to 8080 source-ip").unwrap();
        assert_eq!((s.port, s.target_port), (80, 8080));
        assert_eq!(s.strategy, pb::LbStrategy::SourceIp as i32);
        assert_eq!(format_service(&s), "web tcp 80 to 8080 source-ip");
        let dns = parse_service("dns udp 53").unwrap();
        assert_eq!(format_service(&dns), "dns udp 53 to 53 maglev");
        assert!(parse_service("web sctp 80").is_err());
        assert!(parse_service("web").is_err());

        let (svc, b) = parse_backend("web=p1:0").unwrap();
        assert_eq!(
            (svc.as_str(), b.port_id.as_str(), b.weight),
            ("web", "p1", 0)
        );
        assert_eq!(parse_backend("web=p1").unwrap().1.weight, DEFAULT_WEIGHT);
        assert!(parse_backend("web").is_err());
        assert!(parse_backend("web=p1:1001").is_err());

        let (svc, hc) = parse_health_check(
            "web http path /healthz status 204 interval 5s timeout 500ms down 2",
        )
        .unwrap();
        assert_eq!(svc, "web");
        assert_eq!(hc.mode, pb::HealthCheckMode::Http as i32);
        assert_eq!(hc.http_path, "/healthz");
        assert_eq!(hc.http_expected_status, 204);
        assert_eq!(
            (hc.interval_ms, hc.timeout_ms, hc.retries_down),
            (5000, 500, 2)
        );
        assert!(parse_health_check("web icmp").is_err());
        assert!(parse_health_check("web tcp port").is_err());

        let l = parse_static_lease("02:00:00:00:00:AA=198.18.0.10,2001:db8::10").unwrap();
        assert_eq!(
            (l.mac.as_str(), l.ipv4.as_str(), l.ipv6.as_str()),
            ("02:00:00:00:00:aa", "198.18.0.10", "2001:db8::10")
        );
        assert!(parse_static_lease("02:00:00:00:00:aa").is_err());
    }
}
