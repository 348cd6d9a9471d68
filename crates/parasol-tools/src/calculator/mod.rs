//! The `calculator` tool: bounded arithmetic on `f64`.
//!
//! The expression language is ours, parsed by a small recursive-descent parser, rather
//! than one of the expression crates. `evalexpr` is maintained and can switch off its
//! built-in functions, but it is a language of its own (integers that divide as integers,
//! strings, assignments, sequences) and gives no hook to check intermediate values or to
//! cap nesting. `exmex` lets us choose the operators, but an operator is a plain
//! `fn(T) -> T` that cannot fail, so a division by zero or an overflow could only come
//! back as `inf` with no word of where. `meval` and `fasteval` have not been maintained
//! for years. Arithmetic with a closed list of functions is a page of code, and owning it
//! lets every bound below be enforced at the step where it is crossed.
//!
//! Bounds: [`MAX_LENGTH`] characters of input, [`MAX_DEPTH`] levels of nesting, and no
//! value, final or intermediate, past [`MAX_MAGNITUDE`] or not finite.

mod functions;
mod lexer;
mod parser;

use parasol_agent::Tool;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The longest expression accepted, in characters.
pub const MAX_LENGTH: usize = 500;
/// The deepest nesting of parentheses, function calls, signs and powers accepted.
pub const MAX_DEPTH: usize = 32;
/// The largest magnitude any value may reach.
pub const MAX_MAGNITUDE: f64 = 1e300;

/// Why an expression has no value. Each message tells the model what to change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExpressionError {
    /// Nothing to evaluate.
    #[error("the expression is empty; write one such as `2 * (3 + 4)`")]
    Empty,
    /// Longer than [`MAX_LENGTH`].
    #[error("the expression has {length} characters, more than the {max} allowed; split it")]
    TooLong {
        /// Its length in characters.
        length: usize,
        /// The limit.
        max: usize,
    },
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("the expression nests more than {max} levels deep; simplify it")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// A character that is no part of the language.
    #[error(
        "unexpected character `{ch}` at position {position}; use numbers, + - * / % ^, \
         parentheses, commas and the known functions"
    )]
    UnexpectedCharacter {
        /// The character.
        ch: char,
        /// Its 1-based position.
        position: usize,
    },
    /// Digits and dots that make no number.
    #[error("`{text}` is not a number")]
    InvalidNumber {
        /// What was written.
        text: String,
    },
    /// A name that is neither a function nor a constant.
    #[error(
        "unknown name `{name}`; the functions are {}, and the constants are pi and e",
        functions::FUNCTION_NAMES
    )]
    UnknownName {
        /// The name, lowercased.
        name: String,
    },
    /// A function named without parentheses.
    #[error("`{function}` is a function: call it as `{function}(x)`")]
    MissingArguments {
        /// The function.
        function: &'static str,
    },
    /// A function called with the wrong number of arguments.
    #[error("`{function}` takes {expected}, not {found}")]
    Arity {
        /// The function.
        function: &'static str,
        /// What it takes.
        expected: &'static str,
        /// How many it was given.
        found: usize,
    },
    /// A token where another was needed.
    #[error("unexpected {found} at position {position}; expected {expected}")]
    UnexpectedToken {
        /// The token found.
        found: String,
        /// Its 1-based position.
        position: usize,
        /// What could have stood there.
        expected: &'static str,
    },
    /// The expression stopped where more was needed.
    #[error("the expression ends too soon; a number, name or `(` should follow")]
    UnexpectedEnd,
    /// A `(` never closed.
    #[error("the `(` at position {position} is never closed; add a `)`")]
    UnbalancedOpen {
        /// Its 1-based position.
        position: usize,
    },
    /// A `)` with nothing to close.
    #[error("the `)` at position {position} has no matching `(`")]
    UnbalancedClose {
        /// Its 1-based position.
        position: usize,
    },
    /// A division, remainder or negative power of zero.
    #[error("division by zero; check the divisor")]
    DivisionByZero,
    /// A value past [`MAX_MAGNITUDE`] or infinite.
    #[error("a value grew beyond {max:e} in magnitude (overflow); use smaller numbers")]
    TooLarge {
        /// The limit.
        max: f64,
    },
    /// A result that is not a number.
    #[error("the result is not a real number")]
    NotANumber,
    /// A function given a value outside its domain.
    #[error("`{function}` cannot take that value: {reason}")]
    Domain {
        /// The function or operator.
        function: &'static str,
        /// What it needs.
        reason: &'static str,
    },
}

/// Evaluates `expression` within the bounds above.
pub fn evaluate(expression: &str) -> Result<f64, ExpressionError> {
    let length = expression.chars().count();
    if length > MAX_LENGTH {
        return Err(ExpressionError::TooLong {
            length,
            max: MAX_LENGTH,
        });
    }
    let tokens = lexer::tokenize(expression)?;
    if tokens.is_empty() {
        return Err(ExpressionError::Empty);
    }
    let value = parser::evaluate(&tokens)?;

    // `-0` reads oddly to a model and to a person, and equals 0 anyway.
    Ok(if value == 0.0 { 0.0 } else { value })
}

/// The calculator's arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CalculatorArgs {
    /// The arithmetic expression, e.g. `(2 + 3) * sqrt(16) / 4` or `round(100 * e^0.05, 2)`.
    pub expression: String,
}

/// The calculator's answer.
#[derive(Debug, Serialize)]
pub struct CalculatorOutput {
    /// The expression as given, trimmed.
    pub expression: String,
    /// Its value.
    pub result: f64,
}

/// Evaluates arithmetic so that the model need not do it in its head.
#[derive(Debug, Clone, Default)]
pub struct Calculator;

impl Tool for Calculator {
    type Args = CalculatorArgs;
    type Output = CalculatorOutput;
    type Error = ExpressionError;
    const NAME: &'static str = "calculator";

    fn description(&self) -> String {
        format!(
            "Evaluates an arithmetic expression exactly as written and returns the number. \
             Use it for any calculation instead of working it out yourself. Supports + - * \
             / % (remainder) ^ (power), parentheses, the functions {}, and the constants pi \
             and e. At most {MAX_LENGTH} characters.",
            functions::FUNCTION_NAMES
        )
    }

    async fn call(&self, args: CalculatorArgs) -> Result<CalculatorOutput, ExpressionError> {
        let result = evaluate(&args.expression)?;
        Ok(CalculatorOutput {
            expression: args.expression.trim().to_owned(),
            result,
        })
    }
}
