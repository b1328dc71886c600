//! `also=` and `%default`: turns sections into one flat key -> value map per
//! conn / ca, with strongSwan 5.2+ precedence:
//! own settings > later `also=` > earlier `also=` > `%default` > built-in default.
//! An empty value unsets a key (the built-in default applies).

use crate::diag::{Diagnostic, Diags};
use crate::syntax::{Entry, Section, SectionKind};
use std::collections::{BTreeMap, HashMap, HashSet};

/// A resolved setting and the `also=` chain it came through (empty: own setting).
#[derive(Clone, Debug)]
pub struct Setting {
    pub entry: Entry,
    pub via: Vec<String>,
}

pub type Settings = BTreeMap<String, Setting>;

/// Merges duplicate sections (same kind and name) with a warning, returning
/// the name -> section index of the merged list.
pub fn merge_sections(sections: Vec<Section>, diags: &mut Diags) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::with_capacity(sections.len());
    let mut index: HashMap<(u8, String), usize> = HashMap::new();
    let mut setup_seen = false;
    for s in sections {
        let k = (s.kind as u8, s.name.clone());
        if s.kind == SectionKind::Setup && setup_seen {
            diags.warn(
                s.loc.clone(),
                Some("config"),
                "second 'config setup' section: merged into the first",
            );
        }
        if let Some(&i) = index.get(&k) {
            if s.kind != SectionKind::Setup {
                let first = out.get(i).map(|f| f.loc.to_string()).unwrap_or_default();
                diags.warn(
                    s.loc.clone(),
                    Some(s.kind.as_str()),
                    format!("{} '{}' is defined again (first at {first}): settings merged, later values win", s.kind.as_str(), s.name),
                );
            }
            if let Some(f) = out.get_mut(i) {
                f.entries.extend(s.entries);
            }
        } else {
            setup_seen |= s.kind == SectionKind::Setup;
            index.insert(k, out.len());
            out.push(s);
        }
    }
    out
}

/// Resolves every section of `kind` other than `%default`.
/// Resolves every section of `kind` (but `%default`) and hands each one's
/// settings to `f` (section index, settings, diagnostics) in file order, one
/// at a time: the settings of 10,000 conns never exist at once.
pub fn resolve_each(
    sections: &[Section],
    kind: SectionKind,
    diags: &mut Diags,
    mut f: impl FnMut(usize, &Settings, &mut Diags),
) {
    let by_name: HashMap<&str, usize> = sections
        .iter()
        .enumerate()
        .filter(|(_, s)| s.kind == kind)
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let mut cache: HashMap<usize, Settings> = HashMap::new();
    // The sections some also= names (their resolution is reused).
    let targets: HashSet<usize> = sections
        .iter()
        .filter(|s| s.kind == kind)
        .flat_map(|s| s.entries.iter().filter(|e| e.key == "also"))
        .flat_map(|e| e.value.split_whitespace())
        .filter_map(|t| by_name.get(t).copied())
        .collect();
    let default = by_name.get("%default").map(|&i| {
        let mut chain = vec![i];
        collect(
            sections, &by_name, i, &mut chain, &mut cache, &targets, diags,
        )
    });
    for (i, s) in sections.iter().enumerate() {
        if s.kind != kind || s.name == "%default" {
            continue;
        }
        let mut chain = vec![i];
        let mut settings = collect(
            sections, &by_name, i, &mut chain, &mut cache, &targets, diags,
        );
        if let Some(d) = &default {
            for (k, v) in d {
                settings.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        settings.retain(|_, v| !v.entry.value.is_empty());
        f(i, &settings, diags);
    }
}

fn collect(
    sections: &[Section],
    by_name: &HashMap<&str, usize>,
    idx: usize,
    chain: &mut Vec<usize>,
    cache: &mut HashMap<usize, Settings>,
    targets: &HashSet<usize>,
    diags: &mut Diags,
) -> Settings {
    if let Some(c) = cache.get(&idx) {
        return c.clone();
    }
    let Some(sec) = sections.get(idx) else {
        return Settings::new();
    };
    let mut out = Settings::new();
    let mut cyclic = false;
    for e in sec.entries.iter().filter(|e| e.key == "also") {
        for target in e.value.split_whitespace() {
            let Some(&t) = by_name.get(target) else {
                let known: Vec<&str> = by_name.keys().copied().collect();
                diags.list.push(Diagnostic::error(
                    e.value_loc.clone(),
                    Some("also"),
                    format!(
                        "no {} section named '{target}'{}",
                        sec.kind.as_str(),
                        crate::util::did_you_mean(target, known)
                    ),
                ));
                continue;
            };
            if target == "%default" {
                diags.warn(
                    e.value_loc.clone(),
                    Some("also"),
                    "also=%default is redundant: %default applies to every section",
                );
                continue;
            }
            if chain.contains(&t) {
                let names: Vec<&str> = chain
                    .iter()
                    .chain(std::iter::once(&t))
                    .filter_map(|&i| sections.get(i).map(|s| s.name.as_str()))
                    .collect();
                diags.err(
                    e.value_loc.clone(),
                    Some("also"),
                    format!("also= cycle: {}", names.join(" -> ")),
                );
                cyclic = true;
                continue;
            }
            chain.push(t);
            let inner = collect(sections, by_name, t, chain, cache, targets, diags);
            chain.pop();
            for (k, mut v) in inner {
                v.via.insert(0, target.to_owned());
                out.insert(k, v);
            }
        }
    }
    for e in sec.entries.iter().filter(|e| e.key != "also") {
        out.insert(
            e.key.clone(),
            Setting {
                entry: e.clone(),
                via: Vec::new(),
            },
        );
    }
    // A section's resolution depends on the chain only when a cycle cut it
    // short. Only also= targets are kept: keeping every conn's would hold
    // all of them at once.
    if !cyclic && targets.contains(&idx) {
        cache.insert(idx, out.clone());
    }
    out
}
