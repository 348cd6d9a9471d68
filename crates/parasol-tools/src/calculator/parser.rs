//! A recursive-descent parser that evaluates as it goes, checking every intermediate value.
//!
//! The grammar, loosest binding first:
//!
//! ```text
//! sum     = product (("+" | "-") product)*
//! product = unary (("*" | "/" | "%") unary)*
//! unary   = ("+" | "-") unary | power
//! power   = primary ("^" unary)?          right-associative; -2^2 is -(2^2)
//! primary = number | name | name "(" sum ("," sum)* ")" | "(" sum ")"
//! ```

use super::functions::{self, Function};
use super::lexer::{Spanned, Token};
use super::{ExpressionError, MAX_DEPTH, MAX_MAGNITUDE};

/// Evaluates a whole token list.
pub(super) fn evaluate(tokens: &[Spanned]) -> Result<f64, ExpressionError> {
    let mut parser = Parser {
        tokens,
        next: 0,
        depth: 0,
    };
    let value = parser.sum()?;
    match parser.peek() {
        None => Ok(value),
        Some((Token::Close, position)) => Err(ExpressionError::UnbalancedClose { position }),
        Some((token, position)) => Err(ExpressionError::UnexpectedToken {
            found: token.describe(),
            position,
            expected: "an operator or the end of the expression",
        }),
    }
}

struct Parser<'a> {
    tokens: &'a [Spanned],
    next: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<(&Token, usize)> {
        self.tokens.get(self.next).map(|(token, at)| (token, *at))
    }

    fn advance(&mut self) -> Option<(&Token, usize)> {
        let token = self.tokens.get(self.next).map(|(token, at)| (token, *at));
        self.next += 1;
        token
    }

    /// Runs `step` one level deeper, refusing past [`MAX_DEPTH`] so that a hostile input
    /// cannot exhaust the stack.
    fn nested<T>(
        &mut self,
        step: impl FnOnce(&mut Self) -> Result<T, ExpressionError>,
    ) -> Result<T, ExpressionError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ExpressionError::TooDeep { max: MAX_DEPTH });
        }
        let result = step(self);
        self.depth -= 1;
        result
    }

    fn sum(&mut self) -> Result<f64, ExpressionError> {
        let mut value = self.product()?;
        loop {
            let operator: fn(f64, f64) -> f64 = match self.peek() {
                Some((Token::Plus, _)) => |a, b| a + b,
                Some((Token::Minus, _)) => |a, b| a - b,
                _ => return Ok(value),
            };
            self.next += 1;
            let right = self.product()?;
            value = checked(operator(value, right))?;
        }
    }

    fn product(&mut self) -> Result<f64, ExpressionError> {
        let mut value = self.unary()?;
        loop {
            let operator = match self.peek() {
                Some((Token::Star, _)) => Token::Star,
                Some((Token::Slash, _)) => Token::Slash,
                Some((Token::Percent, _)) => Token::Percent,
                _ => return Ok(value),
            };
            self.next += 1;
            let right = self.unary()?;
            value = match operator {
                Token::Star => checked(value * right)?,
                _ if right == 0.0 => return Err(ExpressionError::DivisionByZero),
                Token::Slash => checked(value / right)?,
                _ => checked(value % right)?,
            };
        }
    }

    fn unary(&mut self) -> Result<f64, ExpressionError> {
        match self.peek() {
            Some((Token::Minus, _)) => {
                self.next += 1;
                self.nested(|parser| parser.unary()).map(|value| -value)
            }
            Some((Token::Plus, _)) => {
                self.next += 1;
                self.nested(Self::unary)
            }
            _ => self.power(),
        }
    }

    fn power(&mut self) -> Result<f64, ExpressionError> {
        let base = self.primary()?;
        let Some((Token::Caret, _)) = self.peek() else {
            return Ok(base);
        };
        self.next += 1;
        let exponent = self.nested(Self::unary)?;
        functions::power(base, exponent)
    }

    fn primary(&mut self) -> Result<f64, ExpressionError> {
        match self.advance() {
            Some((Token::Number(value), _)) => checked(*value),
            Some((Token::Open, position)) => {
                let value = self.nested(Self::sum)?;
                self.expect_close(position)?;
                Ok(value)
            }
            Some((Token::Name(name), _)) => {
                let name = name.to_ascii_lowercase();
                self.name(&name)
            }
            Some((token, position)) => Err(ExpressionError::UnexpectedToken {
                found: token.describe(),
                position,
                expected: "a number, a name or `(`",
            }),
            None => Err(ExpressionError::UnexpectedEnd),
        }
    }

    /// A constant, or a function and its arguments.
    fn name(&mut self, name: &str) -> Result<f64, ExpressionError> {
        if let Some(value) = functions::constant(name) {
            return Ok(value);
        }
        let Some(function) = functions::lookup(name) else {
            return Err(ExpressionError::UnknownName { name: name.into() });
        };
        match self.advance() {
            Some((Token::Open, position)) => {
                let arguments = self.nested(Self::arguments)?;
                self.expect_close(position)?;
                function.apply(&arguments)
            }
            _ => Err(ExpressionError::MissingArguments {
                function: function.name(),
            }),
        }
    }

    fn arguments(&mut self) -> Result<Vec<f64>, ExpressionError> {
        let mut arguments = vec![self.sum()?];
        while let Some((Token::Comma, _)) = self.peek() {
            self.next += 1;
            arguments.push(self.sum()?);
        }
        Ok(arguments)
    }

    fn expect_close(&mut self, opened_at: usize) -> Result<(), ExpressionError> {
        match self.advance() {
            Some((Token::Close, _)) => Ok(()),
            None => Err(ExpressionError::UnbalancedOpen {
                position: opened_at,
            }),
            Some((token, position)) => Err(ExpressionError::UnexpectedToken {
                found: token.describe(),
                position,
                expected: "`)` or an operator",
            }),
        }
    }
}

/// Refuses non-finite values and magnitudes past [`MAX_MAGNITUDE`], so that an
/// intermediate overflow is reported rather than turning into `inf` or a silent 0.
pub(super) fn checked(value: f64) -> Result<f64, ExpressionError> {
    if value.is_nan() {
        Err(ExpressionError::NotANumber)
    } else if !value.is_finite() || value.abs() > MAX_MAGNITUDE {
        Err(ExpressionError::TooLarge { max: MAX_MAGNITUDE })
    } else {
        Ok(value)
    }
}

impl Function {
    fn apply(self, arguments: &[f64]) -> Result<f64, ExpressionError> {
        let (min, max) = self.arity();
        if arguments.len() < min || arguments.len() > max {
            return Err(ExpressionError::Arity {
                function: self.name(),
                expected: self.arity_text(),
                found: arguments.len(),
            });
        }
        self.call(arguments).and_then(checked)
    }
}
