//! Tool-name patterns, as written in `authorization:` rules and `rate_limits.per_tool`.
//!
//! `*` is any run of characters (none included, `_` included), `?` exactly one character, and
//! every other character stands for itself: there are no `[...]` classes, `{a,b}` alternatives
//! or escapes. A pattern matches a whole name, never a part of one (SPEC §12).
//!
//! A pattern is compiled once per config load. The usual shapes (`*`, `name`, `prefix*`,
//! `*suffix`, `prefix*suffix`) are plain string comparisons. Every other shape runs as a
//! bit-parallel automaton (shift-and): one bit per pattern position, one step of a few word
//! operations per character of the name, no backtracking. A match therefore costs
//! O(len(name) × ⌈len(pattern) / 64⌉) whatever the pattern looks like (`*a*a*a*b` cannot make
//! it slow), and patterns of up to 255 positions run without allocating.

use std::fmt;

/// A compiled tool-name pattern.
#[derive(Clone, PartialEq, Eq)]
pub struct ToolPattern {
    source: Box<str>,
    matcher: Matcher,
}

#[derive(Clone, PartialEq, Eq)]
enum Matcher {
    /// No wildcard at all.
    Exact,
    /// One `*` (after merging runs of them) and no `?`: `prefix*suffix`, either side maybe
    /// empty; `*` alone is both empty.
    PrefixSuffix { prefix: Box<str>, suffix: Box<str> },
    /// Anything else.
    Automaton(Automaton),
}

impl ToolPattern {
    /// Compile `source`. Every string is a valid pattern; the empty one matches only the
    /// empty name.
    pub fn new(source: &str) -> Self {
        let tokens = tokenize(source);
        let stars = tokens.iter().filter(|t| **t == Token::Star).count();
        let has_any = tokens.contains(&Token::Any);
        let matcher = match (stars, has_any) {
            (0, false) => Matcher::Exact,
            (1, false) => {
                let star_at = tokens.iter().position(|t| *t == Token::Star).unwrap_or(0);
                Matcher::PrefixSuffix {
                    prefix: literal_text(&tokens[..star_at]),
                    suffix: literal_text(&tokens[star_at + 1..]),
                }
            }
            _ => Matcher::Automaton(Automaton::new(&tokens)),
        };
        ToolPattern {
            source: source.into(),
            matcher,
        }
    }

    /// Whether the whole of `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        match &self.matcher {
            Matcher::Exact => name == &*self.source,
            Matcher::PrefixSuffix { prefix, suffix } => {
                // Byte lengths: both sides are whole characters, so they cannot share one.
                name.len() >= prefix.len() + suffix.len()
                    && name.starts_with(&**prefix)
                    && name.ends_with(&**suffix)
            }
            Matcher::Automaton(automaton) => automaton.matches(name),
        }
    }

    /// Whether this pattern matches every name (it is made of `*` only).
    pub fn matches_everything(&self) -> bool {
        matches!(&self.matcher, Matcher::PrefixSuffix { prefix, suffix }
            if prefix.is_empty() && suffix.is_empty())
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl fmt::Debug for ToolPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ToolPattern").field(&self.source).finish()
    }
}

impl fmt::Display for ToolPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Token {
    Char(char),
    Any,
    Star,
}

/// The pattern's positions, with runs of `*` merged into one (`**` means what `*` means, and
/// the automaton relies on never meeting two in a row).
fn tokenize(source: &str) -> Vec<Token> {
    let mut tokens: Vec<Token> = Vec::with_capacity(source.len());
    for c in source.chars() {
        let token = match c {
            '*' => Token::Star,
            '?' => Token::Any,
            other => Token::Char(other),
        };
        if !(token == Token::Star && tokens.last() == Some(&Token::Star)) {
            tokens.push(token);
        }
    }
    tokens
}

fn literal_text(tokens: &[Token]) -> Box<str> {
    tokens
        .iter()
        .filter_map(|t| match t {
            Token::Char(c) => Some(*c),
            Token::Any | Token::Star => None,
        })
        .collect()
}

/// Patterns up to this many 64-bit words of state (255 positions) match without allocating.
const INLINE_WORDS: usize = 4;

/// Shift-and over the pattern's positions. State `i` (bit `i`) means "the first `i` positions
/// have matched what was read so far"; the name matches when state `len` is live at its end.
#[derive(Clone, PartialEq, Eq)]
struct Automaton {
    /// Number of positions; state `len` accepts.
    len: usize,
    /// Words per state set: ⌈(len + 1) / 64⌉.
    words: usize,
    /// The live states before reading anything: state 0, and what a leading `*` reaches.
    start: Box<[u64]>,
    /// Bit `i`: position `i` is `*`, so state `i` survives any character and also reaches
    /// state `i + 1` without one.
    star: Box<[u64]>,
    /// Bit `i + 1`: position `i` is `?`, so state `i` advances on any character.
    any: Box<[u64]>,
    /// The distinct literal characters, sorted; `literal_masks[k * words..][..words]` has bit
    /// `i + 1` where position `i` is `literals[k]`.
    literals: Box<[char]>,
    literal_masks: Box<[u64]>,
}

impl Automaton {
    fn new(tokens: &[Token]) -> Self {
        let len = tokens.len();
        let words = len / 64 + 1;
        let mut star = vec![0u64; words];
        let mut any = vec![0u64; words];
        let mut literals: Vec<char> = tokens
            .iter()
            .filter_map(|t| match t {
                Token::Char(c) => Some(*c),
                Token::Any | Token::Star => None,
            })
            .collect();
        literals.sort_unstable();
        literals.dedup();
        let mut literal_masks = vec![0u64; literals.len() * words];
        for (position, token) in tokens.iter().enumerate() {
            match token {
                Token::Star => set_bit(&mut star, position),
                Token::Any => set_bit(&mut any, position + 1),
                Token::Char(c) => {
                    if let Ok(k) = literals.binary_search(c) {
                        set_bit(&mut literal_masks[k * words..][..words], position + 1);
                    }
                }
            }
        }
        let mut start = vec![0u64; words];
        set_bit(&mut start, 0);
        close_over_stars(&mut start, &star);
        Automaton {
            len,
            words,
            start: start.into(),
            star: star.into(),
            any: any.into(),
            literals: literals.into(),
            literal_masks: literal_masks.into(),
        }
    }

    fn matches(&self, name: &str) -> bool {
        if self.words <= INLINE_WORDS {
            let mut state = [0u64; INLINE_WORDS];
            self.run(name, &mut state[..self.words])
        } else {
            self.run(name, &mut vec![0u64; self.words])
        }
    }

    fn run(&self, name: &str, state: &mut [u64]) -> bool {
        state.copy_from_slice(&self.start);
        for c in name.chars() {
            let literal = self
                .literals
                .binary_search(&c)
                .ok()
                .map(|k| &self.literal_masks[k * self.words..][..self.words]);
            // Highest word first, so that word k - 1 still holds the previous step when word k
            // takes its carry from it.
            for k in (0..self.words).rev() {
                let carry = if k > 0 { state[k - 1] >> 63 } else { 0 };
                let advanced = (state[k] << 1) | carry;
                let accepted = self.any[k] | literal.map_or(0, |mask| mask[k]);
                state[k] = (advanced & accepted) | (state[k] & self.star[k]);
            }
            close_over_stars(state, &self.star);
            if state.iter().all(|word| *word == 0) {
                return false;
            }
        }
        (state[self.len / 64] >> (self.len % 64)) & 1 == 1
    }
}

fn set_bit(words: &mut [u64], bit: usize) {
    if let Some(word) = words.get_mut(bit / 64) {
        *word |= 1 << (bit % 64);
    }
}

/// Add the states a `*` reaches by matching nothing. Runs of `*` were merged, so the state
/// after a `*` is never itself before a `*` and one step reaches everything.
fn close_over_stars(state: &mut [u64], star: &[u64]) {
    for k in (0..state.len()).rev() {
        let carry = if k > 0 {
            (state[k - 1] & star[k - 1]) >> 63
        } else {
            0
        };
        state[k] |= ((state[k] & star[k]) << 1) | carry;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, name: &str) -> bool {
        ToolPattern::new(pattern).matches(name)
    }

    /// Backtracking reference: obviously right, exponential, fine for tiny inputs.
    fn reference(pattern: &[char], name: &[char]) -> bool {
        match pattern.split_first() {
            None => name.is_empty(),
            Some(('*', rest)) => (0..=name.len()).any(|skip| reference(rest, &name[skip..])),
            Some(('?', rest)) => !name.is_empty() && reference(rest, &name[1..]),
            Some((c, rest)) => name.first() == Some(c) && reference(rest, &name[1..]),
        }
    }

    fn all_strings(alphabet: &[char], max_len: usize) -> Vec<String> {
        let mut out = vec![String::new()];
        let mut layer = vec![String::new()];
        for _ in 0..max_len {
            layer = layer
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            out.extend(layer.iter().cloned());
        }
        out
    }

    #[test]
    fn agrees_with_the_reference_on_every_small_pattern_and_name() {
        let patterns = all_strings(&['a', 'b', '*', '?'], 5);
        let names = all_strings(&['a', 'b'], 6);
        for pattern in &patterns {
            let compiled = ToolPattern::new(pattern);
            let pattern_chars: Vec<char> = pattern.chars().collect();
            for name in &names {
                let name_chars: Vec<char> = name.chars().collect();
                assert_eq!(
                    compiled.matches(name),
                    reference(&pattern_chars, &name_chars),
                    "pattern {pattern:?} name {name:?}"
                );
            }
        }
    }

    #[test]
    fn shapes_pick_the_expected_matcher() {
        assert!(matches!(ToolPattern::new("a__b").matcher, Matcher::Exact));
        assert!(matches!(
            ToolPattern::new("a**b").matcher,
            Matcher::PrefixSuffix { .. }
        ));
        assert!(matches!(
            ToolPattern::new("*a*").matcher,
            Matcher::Automaton(_)
        ));
        assert!(matches!(
            ToolPattern::new("a?").matcher,
            Matcher::Automaton(_)
        ));
    }

    #[test]
    fn star_matches_any_run_including_none_and_underscores() {
        assert!(matches("*", ""));
        assert!(matches("*", "prod-elk-1__search_logs"));
        assert!(matches("**", "x"));
        assert!(matches("*__search_logs", "prod-elk-1__search_logs"));
        assert!(matches("*__search_logs", "__search_logs"));
        assert!(matches("*__search_logs", "a__b__search_logs"));
        assert!(!matches("*__search_logs", "prod__search_logs2"));
        assert!(matches("broadcast__*", "broadcast__"));
        assert!(matches("broadcast__*", "broadcast__by_tag__logging"));
        assert!(!matches("broadcast__*", "broadcast_x"));
        assert!(matches(
            "prod-db-*__check_health",
            "prod-db-7__check_health"
        ));
        assert!(matches("prod-db-*__check_health", "prod-db-__check_health"));
        assert!(!matches(
            "prod-db-*__check_health",
            "staging-db-1__check_health"
        ));
        assert!(!matches("prod-db-*__check_health", "prod-db-__check_healt"));
    }

    #[test]
    fn prefix_and_suffix_may_not_overlap() {
        assert!(!matches("ab*ba", "aba"));
        assert!(matches("ab*ba", "abba"));
        assert!(!matches("a*a", "a"));
        assert!(matches("a*a", "aa"));
    }

    #[test]
    fn stars_in_the_middle() {
        assert!(matches("*__delete_*", "db__delete_user"));
        assert!(matches("*__delete_*", "db__delete_"));
        assert!(matches("*__delete_*", "x__y__delete_all_rows"));
        assert!(!matches("*__delete_*", "db__deleteuser"));
        assert!(!matches("*__delete_*", "db_delete_user"));
        assert!(matches("a*b*c", "aXbYc"));
        assert!(matches("a*b*c", "abc"));
        assert!(matches("a*b*c", "abbbcbc"));
        assert!(!matches("a*b*c", "acb"));
    }

    #[test]
    fn question_mark_is_exactly_one_character() {
        assert!(matches("srv?__x", "srv1__x"));
        assert!(!matches("srv?__x", "srv__x"));
        assert!(!matches("srv?__x", "srv12__x"));
        assert!(matches("???", "a_b"));
        assert!(!matches("???", "ab"));
        assert!(matches("?*", "a"));
        assert!(!matches("?*", ""));
        // One character, not one byte.
        assert!(matches("a?c", "aéc"));
        assert!(matches("*?", "é"));
    }

    #[test]
    fn match_is_of_the_whole_name() {
        assert!(!matches("search", "prod__search"));
        assert!(!matches("search", "search_logs"));
        assert!(matches("search", "search"));
        assert!(!matches("a?", "abc"));
        assert!(!matches("", "a"));
        assert!(matches("", ""));
    }

    #[test]
    fn brackets_braces_and_backslashes_are_literal() {
        assert!(matches("[ab]__x", "[ab]__x"));
        assert!(!matches("[ab]__x", "a__x"));
        assert!(matches("{a,b}*", "{a,b}__x"));
        assert!(!matches("{a,b}*", "a__x"));
        assert!(matches(r"a\*", r"a\anything"));
        assert!(!matches(r"a\*", "a*"));
        assert!(matches("[?]", "[x]"));
        assert!(!matches("[?]", "x"));
        assert!(matches("a.b", "a.b"));
        assert!(!matches("a.b", "axb"));
    }

    #[test]
    fn many_stars_do_not_backtrack() {
        // Exponential for a backtracking matcher; linear here.
        let pattern = "*a".repeat(40) + "*b";
        let name = "a".repeat(5_000);
        assert!(!matches(&pattern, &name));
        assert!(matches(&pattern, &(name + "b")));
    }

    #[test]
    fn long_patterns_span_several_words() {
        // 70 positions: two words of state.
        let pattern = format!("{}?*{}", "a".repeat(60), "b".repeat(8));
        assert!(matches(
            &pattern,
            &format!("{}x{}", "a".repeat(60), "b".repeat(8))
        ));
        assert!(matches(
            &pattern,
            &format!("{}xyz{}", "a".repeat(60), "b".repeat(8))
        ));
        assert!(!matches(
            &pattern,
            &format!("{}{}", "a".repeat(60), "b".repeat(8))
        ));
        // Carry across a word boundary at every offset.
        for split in 55..75 {
            let pattern = format!("{}?{}", "c".repeat(split), "d".repeat(3));
            let name = format!("{}e{}", "c".repeat(split), "d".repeat(3));
            assert!(matches(&pattern, &name), "split {split}");
            assert!(!matches(&pattern, &name[1..]), "split {split}");
            let star = format!("*{}?{}*", "c".repeat(split), "d".repeat(3));
            assert!(matches(&star, &format!("zz{name}zz")), "split {split}");
        }
        // Past the inline state size: allocates, still right.
        let huge = format!("{}?", "h".repeat(400));
        assert!(matches(&huge, &format!("{}!", "h".repeat(400))));
        assert!(!matches(&huge, &"h".repeat(400)));
        let huge_star = format!("*{}*?", "h".repeat(300));
        assert!(matches(&huge_star, &format!("x{}yz", "h".repeat(300))));
        assert!(!matches(&huge_star, &"h".repeat(300)));
    }

    #[test]
    fn matches_everything_only_for_stars() {
        assert!(ToolPattern::new("*").matches_everything());
        assert!(ToolPattern::new("***").matches_everything());
        assert!(!ToolPattern::new("*?").matches_everything());
        assert!(!ToolPattern::new("a*").matches_everything());
        assert!(!ToolPattern::new("").matches_everything());
    }

    #[test]
    fn keeps_its_source() {
        let pattern = ToolPattern::new("a**b?");
        assert_eq!(pattern.as_str(), "a**b?");
        assert_eq!(pattern.to_string(), "a**b?");
        assert_eq!(format!("{pattern:?}"), "ToolPattern(\"a**b?\")");
    }
}
