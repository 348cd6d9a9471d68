//! The calculator: what it computes, and every way an expression is refused.

use parasol_agent::Tool;
use parasol_tools::Calculator;
use parasol_tools::calculator::{CalculatorArgs, ExpressionError, evaluate};

const GOOD: &[(&str, f64)] = &[
    ("1 + 2 * 3", 7.0),
    ("(1 + 2) * 3", 9.0),
    ("10 - 4 - 3", 3.0),
    ("2 * 3 / 4", 1.5),
    ("2^3^2", 512.0),
    ("-2^2", -4.0),
    ("2^-1", 0.5),
    ("2 ** 10", 1024.0),
    ("10 % 3", 1.0),
    ("-7 % 3", -1.0),
    ("sqrt(16)", 4.0),
    ("abs(-3.5)", 3.5),
    ("ln(e)", 1.0),
    ("log(1000)", 3.0),
    ("exp(0)", 1.0),
    ("sin(pi / 2)", 1.0),
    ("cos(0)", 1.0),
    ("tan(0)", 0.0),
    ("min(3, 1, 2)", 1.0),
    ("max(3, -1, 2)", 3.0),
    ("round(2.5)", 3.0),
    ("round(-2.5)", -3.0),
    ("round(1.23456, 2)", 1.23),
    ("floor(-1.5)", -2.0),
    ("ceil(1.2)", 2.0),
    ("PI", std::f64::consts::PI),
    ("1e3 + .5", 1000.5),
    ("6.02e23 / 1e23", 6.02),
    ("  42  ", 42.0),
    ("((((1))))", 1.0),
    ("1e300", 1e300),
    ("-0", 0.0),
    ("3 \u{d7} 4 \u{2212} 2", 10.0),
    ("sqrt(2)^2", 2.0),
];

#[test]
fn good_expressions_evaluate_to_their_values() {
    for (expression, expected) in GOOD {
        let value = evaluate(expression).unwrap_or_else(|e| panic!("{expression}: {e}"));
        let tolerance = 1e-12 * expected.abs().max(1.0);
        assert!(
            (value - expected).abs() <= tolerance,
            "{expression} gave {value}, not {expected}"
        );
    }
}

#[test]
fn thirty_levels_of_parentheses_are_within_the_depth_limit() {
    let expression = format!("{}1{}", "(".repeat(30), ")".repeat(30));
    assert_eq!(evaluate(&expression), Ok(1.0));
}

type Check = fn(&ExpressionError) -> bool;

const BAD: &[(&str, Check)] = &[
    (
        "foo(1)",
        |e| matches!(e, ExpressionError::UnknownName { name } if name == "foo"),
    ),
    ("round(2.5, 1.5)", |e| {
        matches!(e, ExpressionError::Domain { .. })
    }),
    ("sqrt(1, 2)", |e| {
        matches!(e, ExpressionError::Arity { found: 2, .. })
    }),
    ("", |e| matches!(e, ExpressionError::Empty)),
    ("   ", |e| matches!(e, ExpressionError::Empty)),
    ("x + 1", |e| {
        matches!(e, ExpressionError::UnknownName { .. })
    }),
    ("__import__", |e| {
        matches!(e, ExpressionError::UnknownName { .. })
    }),
    ("__import__('os')", |e| {
        matches!(e, ExpressionError::UnexpectedCharacter { ch: '\'', .. })
    }),
    ("import os", |e| {
        matches!(e, ExpressionError::UnknownName { .. })
    }),
    ("1/0", |e| matches!(e, ExpressionError::DivisionByZero)),
    ("5 % (2 - 2)", |e| {
        matches!(e, ExpressionError::DivisionByZero)
    }),
    ("0^-1", |e| matches!(e, ExpressionError::DivisionByZero)),
    ("10^400", |e| matches!(e, ExpressionError::TooLarge { .. })),
    ("1e400", |e| matches!(e, ExpressionError::TooLarge { .. })),
    ("1e301", |e| matches!(e, ExpressionError::TooLarge { .. })),
    ("(1e300 * 1e300) / 1e300", |e| {
        matches!(e, ExpressionError::TooLarge { .. })
    }),
    ("1 / (1e200 * 1e200)", |e| {
        matches!(e, ExpressionError::TooLarge { .. })
    }),
    ("exp(1000)", |e| {
        matches!(e, ExpressionError::TooLarge { .. })
    }),
    ("9**9**9**9", |e| {
        matches!(e, ExpressionError::TooLarge { .. })
    }),
    ("(1 + 2", |e| {
        matches!(e, ExpressionError::UnbalancedOpen { position: 1 })
    }),
    ("1 + 2)", |e| {
        matches!(e, ExpressionError::UnbalancedClose { position: 6 })
    }),
    ("sqrt(-1)", |e| {
        matches!(
            e,
            ExpressionError::Domain {
                function: "sqrt",
                ..
            }
        )
    }),
    ("ln(0)", |e| {
        matches!(e, ExpressionError::Domain { function: "ln", .. })
    }),
    ("log(-5)", |e| {
        matches!(
            e,
            ExpressionError::Domain {
                function: "log",
                ..
            }
        )
    }),
    ("(-8)^(1/3)", |e| {
        matches!(e, ExpressionError::Domain { function: "^", .. })
    }),
    ("sqrt", |e| {
        matches!(e, ExpressionError::MissingArguments { function: "sqrt" })
    }),
    ("min()", |e| {
        matches!(e, ExpressionError::UnexpectedToken { .. })
    }),
    ("2 3", |e| {
        matches!(e, ExpressionError::UnexpectedToken { position: 3, .. })
    }),
    ("2e", |e| {
        matches!(e, ExpressionError::UnexpectedToken { .. })
    }),
    ("1 + * 2", |e| {
        matches!(e, ExpressionError::UnexpectedToken { .. })
    }),
    ("1 +", |e| matches!(e, ExpressionError::UnexpectedEnd)),
    ("1..2", |e| {
        matches!(e, ExpressionError::InvalidNumber { .. })
    }),
    ("2 $ 3", |e| {
        matches!(e, ExpressionError::UnexpectedCharacter { ch: '$', .. })
    }),
    ("1; 2", |e| {
        matches!(e, ExpressionError::UnexpectedCharacter { ch: ';', .. })
    }),
    ("a = 1", |e| {
        matches!(e, ExpressionError::UnexpectedCharacter { ch: '=', .. })
    }),
];

#[test]
fn bad_expressions_are_refused_with_the_right_error() {
    for (expression, check) in BAD {
        match evaluate(expression) {
            Ok(value) => panic!("{expression:?} evaluated to {value}"),
            Err(error) => assert!(
                check(&error),
                "{expression:?} gave the wrong error: {error:?}"
            ),
        }
    }
}

#[test]
fn oversized_and_overnested_expressions_are_refused() {
    let too_long = evaluate(&"1+".repeat(300));
    assert_eq!(
        too_long,
        Err(ExpressionError::TooLong {
            length: 600,
            max: 500
        })
    );

    for deep in [
        format!("{}1{}", "(".repeat(40), ")".repeat(40)),
        format!("sqrt({}1{})", "(".repeat(40), ")".repeat(40)),
        format!("{}1", "-".repeat(40)),
        format!("2{}", "^2".repeat(40)),
    ] {
        assert_eq!(
            evaluate(&deep),
            Err(ExpressionError::TooDeep { max: 32 }),
            "{deep}"
        );
    }
}

#[test]
fn errors_tell_the_model_what_to_change() {
    let unknown = evaluate("foo(1)").unwrap_err().to_string();
    assert!(
        unknown.contains("sqrt") && unknown.contains("pi"),
        "{unknown}"
    );
    assert!(
        evaluate("1/0")
            .unwrap_err()
            .to_string()
            .contains("division by zero")
    );
    assert!(
        evaluate("10^400")
            .unwrap_err()
            .to_string()
            .contains("overflow")
    );
}

#[tokio::test]
async fn the_tool_returns_the_trimmed_expression_and_its_result() {
    let output = Calculator
        .call(CalculatorArgs {
            expression: " 2 * (3 + 4) ".into(),
        })
        .await
        .unwrap();
    assert_eq!(output.expression, "2 * (3 + 4)");
    assert_eq!(output.result, 14.0);
}
