//! The conformance report: which passes a request makes, the per-pass
//! `RESULT` lines with the failing checks, the table and the summary line
//! `conformance: iked N/M scenarios, K/L checks (reference N'/M')`, where
//! an iked pass counts only for scenarios whose reference pass passed.

use std::path::Path;

use super::{Pass, default_iked_host, skip_reason, test_conf};
use crate::Result;
use crate::scenario::Outcome;

/// What a request runs: per scenario, its passes, or why it is skipped.
#[derive(Debug, Clone)]
pub struct Plan {
    /// (scenario, reference pass, iked pass or why there is none).
    pub rows: Vec<Row>,
}

/// One scenario of a plan.
#[derive(Debug, Clone)]
pub struct Row {
    /// The scenario.
    pub scenario: String,
    /// Out of scope: why (no pass runs).
    pub skip: Option<String>,
    /// The reference pass.
    pub reference: Option<Pass>,
    /// The iked pass; `Err(why)` when there is none.
    pub iked: std::result::Result<Pass, String>,
}

impl Plan {
    /// The plan for `scenarios` with iked on `iked_host` (default: each
    /// scenario's gateway), `reference_only` without the iked passes.
    pub fn new(
        scenarios: &[String],
        iked_host: Option<&str>,
        reference_only: bool,
    ) -> Result<Plan> {
        let mut rows = Vec::new();
        for s in scenarios {
            let tc = test_conf(s)?;
            if let Some(why) = skip_reason(s, &tc) {
                rows.push(Row {
                    scenario: s.clone(),
                    skip: Some(why),
                    reference: None,
                    iked: Err("skipped".into()),
                });
                continue;
            }
            let iked = if reference_only {
                Err("--reference".into())
            } else {
                match iked_host {
                    Some(h) if tc.ipsec_hosts().iter().any(|i| i == h) => Ok(h.to_owned()),
                    Some(h) => Err(format!("{h} is not an IPsec host here")),
                    None => default_iked_host(&tc).ok_or_else(|| "no IPsec host".to_owned()),
                }
                .map(|h| Pass {
                    scenario: s.clone(),
                    iked_host: Some(h),
                })
            };
            rows.push(Row {
                scenario: s.clone(),
                skip: None,
                reference: Some(Pass {
                    scenario: s.clone(),
                    iked_host: None,
                }),
                iked,
            });
        }
        Ok(Plan { rows })
    }

    /// The outcome names to run, in order (reference first).
    pub fn names(&self) -> Vec<String> {
        let mut v = Vec::new();
        for r in &self.rows {
            if let Some(p) = &r.reference {
                v.push(p.name());
            }
            if let Ok(p) = &r.iked {
                v.push(p.name());
            }
        }
        v
    }
}

/// `k/n` from an outcome's detail (`"k/n checks..."`).
pub fn checks_of(o: &Outcome) -> (usize, usize) {
    let first = o.detail.split_whitespace().next().unwrap_or("");
    let (k, n) = first.split_once('/').unwrap_or(("0", "0"));
    (k.parse().unwrap_or(0), n.parse().unwrap_or(0))
}

fn find<'a>(outcomes: &'a [Outcome], p: &Pass) -> Option<&'a Outcome> {
    let n = p.name();
    outcomes.iter().find(|o| o.name == n)
}

fn result_line(o: &Outcome) -> String {
    let (k, n) = checks_of(o);
    let mut s = format!(
        "RESULT {} {} {k}/{n} checks",
        o.name,
        if o.pass { "PASS" } else { "FAIL" }
    );
    if n == 0 {
        s.push_str(&format!(" ({})", o.detail));
    }
    s
}

/// The report's text: per scenario its RESULT lines (failing checks with
/// their output, from each pass's `failures.txt`), the table, the summary.
pub fn render(plan: &Plan, outcomes: &[Outcome]) -> (String, bool) {
    let mut out = String::new();
    let mut table = String::from("\nscenario                       reference        iked\n");
    let (mut ref_pass, mut ref_total) = (0, 0);
    let (mut iked_pass, mut iked_total, mut ck, mut cl) = (0, 0, 0, 0);
    let mut all_ok = true;
    for r in &plan.rows {
        if let Some(why) = &r.skip {
            out.push_str(&format!("RESULT conformance/{} SKIP ({why})\n", r.scenario));
            table.push_str(&format!("{:30} SKIP ({why})\n", r.scenario));
            continue;
        }
        let refo = r.reference.as_ref().and_then(|p| find(outcomes, p));
        let cell = |o: Option<&Outcome>| match o {
            Some(o) => {
                let (k, n) = checks_of(o);
                format!("{} {k}/{n}", if o.pass { "PASS" } else { "FAIL" })
            }
            None => "-".to_owned(),
        };
        for o in refo.iter() {
            out.push_str(&result_line(o));
            out.push('\n');
            if !o.pass {
                all_ok = false;
                out.push_str(&failures(&o.dir));
            }
        }
        ref_total += 1;
        let ref_ok = refo.map(|o| o.pass).unwrap_or(false);
        ref_pass += usize::from(ref_ok);
        let iked_cell = match &r.iked {
            Ok(p) => {
                let o = find(outcomes, p);
                if let Some(o) = o {
                    out.push_str(&result_line(o));
                    if !ref_ok {
                        out.push_str("  (not counted: the reference failed)");
                    }
                    out.push('\n');
                    if !o.pass {
                        all_ok = false;
                        out.push_str(&failures(&o.dir));
                    }
                    if ref_ok {
                        iked_total += 1;
                        iked_pass += usize::from(o.pass);
                        let (k, n) = checks_of(o);
                        ck += k;
                        cl += n;
                    }
                }
                format!("{} @{}", cell(o), p.iked_host.as_deref().unwrap_or("?"))
            }
            Err(why) => format!("- ({why})"),
        };
        table.push_str(&format!(
            "{:30} {:16} {iked_cell}\n",
            r.scenario,
            cell(refo)
        ));
    }
    out.push_str(&table);
    out.push_str(&format!(
        "\nconformance: iked {iked_pass}/{iked_total} scenarios, {ck}/{cl} checks (reference {ref_pass}/{ref_total})\n"
    ));
    (out, all_ok)
}

fn failures(dir: &Path) -> String {
    let f = std::fs::read_to_string(dir.join("failures.txt")).unwrap_or_default();
    let mut s = String::new();
    for l in f.lines() {
        s.push_str("    ");
        s.push_str(l);
        s.push('\n');
    }
    if !s.is_empty() {
        s.push_str(&format!(
            "    (console log: {})\n",
            dir.join("console.log").display()
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn pass_names_round_trip() {
        let p = Pass {
            scenario: "net2net-psk".into(),
            iked_host: Some("moon".into()),
        };
        assert_eq!(p.name(), "conformance/net2net-psk@moon");
        assert_eq!(Pass::parse(&p.name()), Some(p));
        let r = Pass::parse("conformance/rw-cert@strongswan").expect("reference");
        assert_eq!(r.iked_host, None);
        assert!(Pass::parse("gcm").is_none());
        assert!(Pass::parse("conformance/@moon").is_none());
    }

    #[test]
    fn checks_come_from_the_detail() {
        let o = Outcome {
            name: "conformance/x@moon".into(),
            pass: false,
            detail: "5/8 checks; failed: a || b".into(),
            secs: 1.0,
            dir: PathBuf::new(),
        };
        assert_eq!(checks_of(&o), (5, 8));
        assert!(result_line(&o).ends_with("FAIL 5/8 checks"));
    }
}
