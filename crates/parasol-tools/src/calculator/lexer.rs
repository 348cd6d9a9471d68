//! Splits an arithmetic expression into tokens.

use super::ExpressionError;

/// One piece of an expression.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Token {
    Number(f64),
    Name(String),
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Caret,
    Comma,
    Open,
    Close,
}

impl Token {
    /// How the token reads in an error message.
    pub(super) fn describe(&self) -> String {
        match self {
            Self::Number(value) => format!("the number {value}"),
            Self::Name(name) => format!("`{name}`"),
            Self::Plus => "`+`".into(),
            Self::Minus => "`-`".into(),
            Self::Star => "`*`".into(),
            Self::Slash => "`/`".into(),
            Self::Percent => "`%`".into(),
            Self::Caret => "`^`".into(),
            Self::Comma => "`,`".into(),
            Self::Open => "`(`".into(),
            Self::Close => "`)`".into(),
        }
    }
}

/// A token and the 1-based character position it starts at, so errors can point at it.
pub(super) type Spanned = (Token, usize);

/// Splits `input` into tokens.
pub(super) fn tokenize(input: &str) -> Result<Vec<Spanned>, ExpressionError> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut index = 0;

    while let Some(&ch) = chars.get(index) {
        let position = index + 1;
        if ch.is_whitespace() {
            index += 1;
            continue;
        }
        if ch.is_ascii_digit() || ch == '.' {
            let (value, next) = number(&chars, index)?;
            tokens.push((Token::Number(value), position));
            index = next;
            continue;
        }
        if ch.is_ascii_alphabetic() || ch == '_' {
            let end = scan(&chars, index, |c| c.is_ascii_alphanumeric() || c == '_');
            let name: String = chars[index..end].iter().collect();
            tokens.push((Token::Name(name), position));
            index = end;
            continue;
        }

        // Models often write Python's `**` for a power; it means the same as `^`.
        let (token, width) = match (ch, chars.get(index + 1)) {
            ('*', Some('*')) => (Token::Caret, 2),
            _ => (symbol(ch, position)?, 1),
        };
        tokens.push((token, position));
        index += width;
    }
    Ok(tokens)
}

fn symbol(ch: char, position: usize) -> Result<Token, ExpressionError> {
    Ok(match ch {
        '+' => Token::Plus,
        '-' | '\u{2212}' => Token::Minus,
        '*' | '\u{d7}' => Token::Star,
        '/' | '\u{f7}' => Token::Slash,
        '%' => Token::Percent,
        '^' => Token::Caret,
        ',' => Token::Comma,
        '(' => Token::Open,
        ')' => Token::Close,
        _ => return Err(ExpressionError::UnexpectedCharacter { ch, position }),
    })
}

/// Reads a decimal number with an optional exponent (`1`, `2.5`, `.5`, `6.02e23`)
/// starting at `start`, and returns it with the index just past it.
fn number(chars: &[char], start: usize) -> Result<(f64, usize), ExpressionError> {
    let mut end = scan(chars, start, |c| c.is_ascii_digit() || c == '.');

    // An exponent only counts when digits follow it, so that `2e` reads as `2` then `e`
    // and fails as two values side by side instead of silently meaning 2.
    if matches!(chars.get(end), Some('e' | 'E')) {
        let mut after = end + 1;
        if matches!(chars.get(after), Some('+' | '-')) {
            after += 1;
        }
        if chars.get(after).is_some_and(char::is_ascii_digit) {
            end = scan(chars, after, |c| c.is_ascii_digit());
        }
    }

    let text: String = chars[start..end].iter().collect();
    let value: f64 = text
        .parse()
        .map_err(|_| ExpressionError::InvalidNumber { text: text.clone() })?;
    Ok((value, end))
}

/// The index of the first character at or after `start` that `keep` rejects.
fn scan(chars: &[char], start: usize, keep: impl Fn(char) -> bool) -> usize {
    chars[start..]
        .iter()
        .position(|&c| !keep(c))
        .map_or(chars.len(), |offset| start + offset)
}
