//! Small helpers.

/// Levenshtein distance, for "did you mean" hints (inputs are short keywords).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The closest candidate within distance 2, as a " (did you mean 'x'?)" hint.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    let best = candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .min();
    match best {
        Some((d, c)) if d <= 2 && d < word.len() => format!(" (did you mean '{c}'?)"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn distance() {
        assert_eq!(super::edit_distance("kitten", "sitting"), 3);
        assert_eq!(super::edit_distance("", "ab"), 2);
        assert_eq!(
            super::did_you_mean("leftsubnett", ["leftsubnet", "left"]),
            " (did you mean 'leftsubnet'?)"
        );
    }
}
