//! The calculator's functions and constants: a closed list, so nothing else can be named.

use super::ExpressionError;
use super::parser::checked;

/// The names the calculator knows, for error messages and the tool's description.
pub(super) const FUNCTION_NAMES: &str =
    "sqrt, abs, ln, log (base 10), exp, sin, cos, tan (radians), min, max, round, floor, ceil";

/// A function the calculator can call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Function {
    Sqrt,
    Abs,
    Ln,
    Log,
    Exp,
    Sin,
    Cos,
    Tan,
    Min,
    Max,
    Round,
    Floor,
    Ceil,
}

/// The value of a constant, if `name` is one.
pub(super) fn constant(name: &str) -> Option<f64> {
    match name {
        "pi" => Some(std::f64::consts::PI),
        "e" => Some(std::f64::consts::E),
        _ => None,
    }
}

/// The function called `name`, if there is one.
pub(super) fn lookup(name: &str) -> Option<Function> {
    Some(match name {
        "sqrt" => Function::Sqrt,
        "abs" => Function::Abs,
        "ln" => Function::Ln,
        "log" => Function::Log,
        "exp" => Function::Exp,
        "sin" => Function::Sin,
        "cos" => Function::Cos,
        "tan" => Function::Tan,
        "min" => Function::Min,
        "max" => Function::Max,
        "round" => Function::Round,
        "floor" => Function::Floor,
        "ceil" => Function::Ceil,
        _ => return None,
    })
}

/// The most digits `round(x, digits)` keeps: past this an `f64` has no more to give.
const MAX_ROUND_DIGITS: f64 = 15.0;

/// How many arguments `min` and `max` take at most; the input length bounds them anyway.
const MAX_VARIADIC: usize = 64;

impl Function {
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Sqrt => "sqrt",
            Self::Abs => "abs",
            Self::Ln => "ln",
            Self::Log => "log",
            Self::Exp => "exp",
            Self::Sin => "sin",
            Self::Cos => "cos",
            Self::Tan => "tan",
            Self::Min => "min",
            Self::Max => "max",
            Self::Round => "round",
            Self::Floor => "floor",
            Self::Ceil => "ceil",
        }
    }

    /// The fewest and most arguments it takes.
    pub(super) fn arity(self) -> (usize, usize) {
        match self {
            Self::Min | Self::Max => (1, MAX_VARIADIC),
            Self::Round => (1, 2),
            _ => (1, 1),
        }
    }

    pub(super) fn arity_text(self) -> &'static str {
        match self {
            Self::Min | Self::Max => "one or more arguments",
            Self::Round => "one argument, or a value and a number of decimal places",
            _ => "exactly one argument",
        }
    }

    /// Calls it; the arity has been checked.
    pub(super) fn call(self, arguments: &[f64]) -> Result<f64, ExpressionError> {
        let x = arguments.first().copied().unwrap_or_default();
        let domain = |reason: &'static str| ExpressionError::Domain {
            function: self.name(),
            reason,
        };
        match self {
            Self::Sqrt if x < 0.0 => Err(domain("it needs a number that is not negative")),
            Self::Ln | Self::Log if x <= 0.0 => Err(domain("it needs a positive number")),
            Self::Sqrt => Ok(x.sqrt()),
            Self::Abs => Ok(x.abs()),
            Self::Ln => Ok(x.ln()),
            Self::Log => Ok(x.log10()),
            Self::Exp => Ok(x.exp()),
            Self::Sin => Ok(x.sin()),
            Self::Cos => Ok(x.cos()),
            Self::Tan => Ok(x.tan()),
            Self::Min => Ok(arguments.iter().copied().fold(f64::INFINITY, f64::min)),
            Self::Max => Ok(arguments.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
            Self::Round => round(x, arguments.get(1).copied()).ok_or_else(|| {
                domain("the number of decimal places must be a whole number from 0 to 15")
            }),
            Self::Floor => Ok(x.floor()),
            Self::Ceil => Ok(x.ceil()),
        }
    }
}

/// Rounds half away from zero to `digits` decimal places (none if absent).
fn round(x: f64, digits: Option<f64>) -> Option<f64> {
    let digits = digits.unwrap_or(0.0);
    if digits.fract() != 0.0 || !(0.0..=MAX_ROUND_DIGITS).contains(&digits) {
        return None;
    }
    let scale = 10f64.powf(digits);
    let scaled = x * scale;
    // Past 2^53 every f64 is already whole, and scaling could overflow: leave it be.
    if !scaled.is_finite() || scaled.abs() >= 9.007_199_254_740_992e15 {
        return Some(x);
    }
    Some(scaled.round() / scale)
}

/// `base ^ exponent`, with the failures named: a zero base with a negative exponent is a
/// division by zero, and a negative base with a fractional exponent has no real value.
pub(super) fn power(base: f64, exponent: f64) -> Result<f64, ExpressionError> {
    if base == 0.0 && exponent < 0.0 {
        return Err(ExpressionError::DivisionByZero);
    }
    if base < 0.0 && exponent.fract() != 0.0 {
        return Err(ExpressionError::Domain {
            function: "^",
            reason: "a negative number has no real power with a fractional exponent",
        });
    }
    checked(base.powf(exponent))
}
