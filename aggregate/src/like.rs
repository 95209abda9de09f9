//! SQL `LIKE` patterns as koku stores cost-category namespaces.

/// A compiled SQL `LIKE` pattern: `%` matches any run of characters (including none), `_`
/// exactly one character; everything else matches itself, case-sensitively. There is no
/// escape character (as in koku's join).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LikePattern {
    text: String,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    One,
    Any,
}

impl LikePattern {
    /// Compiles a pattern.
    pub fn new(pattern: &str) -> Self {
        let tokens = pattern
            .chars()
            .map(|c| match c {
                '%' => Token::Any,
                '_' => Token::One,
                c => Token::Literal(c),
            })
            .collect();
        Self {
            text: pattern.to_string(),
            tokens,
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `text` matches the whole pattern.
    pub fn matches(&self, text: &str) -> bool {
        // Iterative wildcard matching with single-point backtracking to the last `%`:
        // linear in practice, never exponential.
        let s: Vec<char> = text.chars().collect();
        let p = &self.tokens;
        let (mut si, mut pi) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while si < s.len() {
            match p.get(pi) {
                Some(Token::Any) => {
                    star = Some((pi, si));
                    pi += 1;
                }
                Some(Token::One) => {
                    si += 1;
                    pi += 1;
                }
                Some(Token::Literal(c)) if *c == s[si] => {
                    si += 1;
                    pi += 1;
                }
                _ => match star {
                    Some((sp, ss)) => {
                        pi = sp + 1;
                        si = ss + 1;
                        star = Some((sp, ss + 1));
                    }
                    None => return false,
                },
            }
        }
        p[pi..].iter().all(|t| *t == Token::Any)
    }
}

#[cfg(test)]
mod tests {
    use super::LikePattern;

    #[test]
    fn like_semantics() {
        let cases = [
            ("openshift-%", "openshift-monitoring", true),
            ("openshift-%", "openshift-", true),
            ("openshift-%", "kube-openshift-x", false),
            ("%", "", true),
            ("kube-_", "kube-1", true),
            ("kube-_", "kube-12", false),
            ("%-system", "kube-system", true),
            ("%sys%m", "kube-system", true),
            ("Kube%", "kube-system", false),
            ("a%b%c", "aXbYbZc", true),
            ("a%b%c", "aXbYbZ", false),
            ("exact", "exact", true),
            ("ü_", "üé", true),
        ];
        for (pattern, text, want) in cases {
            assert_eq!(
                LikePattern::new(pattern).matches(text),
                want,
                "{pattern} ~ {text}"
            );
        }
    }
}
