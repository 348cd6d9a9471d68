//! Benchmarks of the agent runtime. Run with `scripts/bench-agent` (see
//! docs/BENCHMARKS.md), or directly:
//!
//! ```text
//! cargo bench -p parasol-agent --bench agent_bench -- [--model FILE] [--threads N]
//!     [--runs N] [--llama-bench FILE]
//! ```
//!
//! It prints, as medians over the runs:
//! - the agent loop's own cost per cycle (a scripted model that answers at once and a
//!   tool that does nothing, so all that is measured is the loop);
//! - for the local model: prompt tokens/s, generated tokens/s and time to first token;
//! - with `--llama-bench`, the same two rates from llama.cpp's own `llama-bench` on the
//!   same file and thread count, run alternately with ours, and the ratios.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use parasol_agent::model::ToolCall;
use parasol_agent::model::local::{LocalConfig, LocalModel};
use parasol_agent::testing::{ScriptedModel, Step};
use parasol_agent::{
    Agent, AgentConfig, AgentEvent, Message, Model, ModelEvent, ModelRequest, StopReason, Tool,
    ToolSet, Usage,
};
use schemars::JsonSchema;
use serde::Deserialize;

const PROMPT_TOKENS: usize = 512;
const GENERATED_TOKENS: u32 = 128;

struct Options {
    model: PathBuf,
    threads: u32,
    runs: usize,
    llama_bench: Option<PathBuf>,
}

fn options() -> Options {
    let mut options = Options {
        model: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../data/models/SmolLM2-135M-Instruct.Q4_1.gguf"),
        threads: 2,
        runs: 5,
        llama_bench: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--model" => options.model = args.next().expect("--model FILE").into(),
            "--threads" => {
                options.threads = args.next().expect("--threads N").parse().expect("a number")
            }
            "--runs" => options.runs = args.next().expect("--runs N").parse().expect("a number"),
            "--llama-bench" => {
                options.llama_bench = Some(args.next().expect("--llama-bench FILE").into())
            }
            // cargo bench passes --bench; anything else is a mistake worth hearing about.
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    options
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[derive(Deserialize, JsonSchema)]
struct NoArgs {}

struct Noop;

impl Tool for Noop {
    type Args = NoArgs;
    type Output = &'static str;
    type Error = std::convert::Infallible;
    const NAME: &'static str = "noop";

    fn description(&self) -> String {
        "Does nothing.".into()
    }

    async fn call(&self, _: NoArgs) -> Result<&'static str, Self::Error> {
        Ok("ok")
    }
}

/// The loop's cost per cycle: each run is two tool cycles and an answer.
async fn loop_overhead(runs: usize) -> f64 {
    const RUNS_PER_BATCH: usize = 2000;
    const CYCLES_PER_RUN: usize = 3;
    let stop = |reason| {
        Step::Event(ModelEvent::Stop {
            reason,
            usage: Usage {
                input_tokens: 100,
                output_tokens: 10,
            },
        })
    };
    let tool_turn = || {
        vec![
            Step::Event(ModelEvent::TextDelta("Checking.".into())),
            Step::Event(ModelEvent::ToolUse(ToolCall {
                id: "c".into(),
                name: "noop".into(),
                input: serde_json::json!({}),
                malformed: None,
            })),
            stop(StopReason::ToolUse),
        ]
    };
    let history: Vec<Message> = (0..10)
        .flat_map(|n| {
            [
                Message::user(format!("question {n}")),
                Message::assistant("an answer of some length"),
            ]
        })
        .chain([Message::user("go")])
        .collect();
    let mut tools = ToolSet::new();
    tools.register(Noop);

    let mut per_cycle = Vec::new();
    for _ in 0..runs {
        let model = ScriptedModel::new(std::iter::empty());
        for _ in 0..RUNS_PER_BATCH {
            model.push_turn(tool_turn());
            model.push_turn(tool_turn());
            model.push_turn(vec![
                Step::Event(ModelEvent::TextDelta("Done.".into())),
                stop(StopReason::EndTurn),
            ]);
        }
        let agent = Agent::new(Arc::new(model), tools.clone(), AgentConfig::default());
        let started = Instant::now();
        for _ in 0..RUNS_PER_BATCH {
            let events: Vec<AgentEvent> = agent.run(history.clone()).collect().await;
            assert!(matches!(events.last(), Some(AgentEvent::Usage { .. })));
        }
        per_cycle.push(started.elapsed().as_secs_f64() / (RUNS_PER_BATCH * CYCLES_PER_RUN) as f64);
    }
    median(&mut per_cycle)
}

struct Rates {
    prompt_per_s: f64,
    generated_per_s: f64,
    first_token: Duration,
    generated: u64,
}

/// A system prompt of about `tokens` tokens. `run` goes first so that no run can reuse
/// the previous one's cached prompt.
fn long_prompt(model: &LocalModel, run: usize, tokens: usize) -> String {
    let filler =
        "The weather station on the hill records temperature, humidity, wind and rain every hour. ";
    let mut prompt = format!("Session {run}. You are a storyteller. ");
    while model.count_tokens(&prompt) < tokens {
        prompt.push_str(filler);
    }
    prompt
}

async fn local_run(model: &LocalModel, run: usize) -> Rates {
    let request = ModelRequest {
        system: long_prompt(model, run, PROMPT_TOKENS - 30),
        messages: vec![Message::user(
            "Tell me a long story about the weather station and its keeper.",
        )],
        max_tokens: GENERATED_TOKENS,
        ..ModelRequest::default()
    };
    let started = Instant::now();
    let mut stream = model.stream(request).await.unwrap();
    let mut first = None;
    let mut usage = Usage::default();
    while let Some(event) = stream.next().await {
        match event.unwrap() {
            ModelEvent::TextDelta(_) if first.is_none() => first = Some(started.elapsed()),
            ModelEvent::Stop { usage: used, .. } => usage = used,
            _ => {}
        }
    }
    let total = started.elapsed();
    let first = first.expect("some text");
    Rates {
        prompt_per_s: usage.input_tokens as f64 / first.as_secs_f64(),
        generated_per_s: (usage.output_tokens.saturating_sub(1)) as f64
            / (total - first).as_secs_f64(),
        first_token: first,
        generated: usage.output_tokens,
    }
}

/// llama.cpp's own figures: (prompt tokens/s, generated tokens/s).
fn llama_bench(binary: &PathBuf, options: &Options) -> (f64, f64) {
    let output = Command::new(binary)
        .args(["-m"])
        .arg(&options.model)
        .args([
            "-t",
            &options.threads.to_string(),
            "-p",
            &PROMPT_TOKENS.to_string(),
            "-n",
            &GENERATED_TOKENS.to_string(),
            "-r",
            "1",
            "-o",
            "json",
        ])
        .output()
        .expect("llama-bench runs");
    assert!(
        output.status.success(),
        "llama-bench failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<serde_json::Value> =
        serde_json::from_slice(&output.stdout).expect("llama-bench JSON");
    let rate = |test: &str| {
        results
            .iter()
            .find(|result| {
                result[test].as_u64().is_some_and(|n| n > 0)
                    && result[if test == "n_prompt" {
                        "n_gen"
                    } else {
                        "n_prompt"
                    }] == 0
            })
            .and_then(|result| result["avg_ts"].as_f64())
            .expect("a llama-bench result")
    };
    (rate("n_prompt"), rate("n_gen"))
}

#[tokio::main]
async fn main() {
    let options = options();
    println!(
        "agent runtime benchmark: {} runs, {} threads",
        options.runs, options.threads
    );

    let overhead = loop_overhead(options.runs).await;
    println!(
        "agent loop overhead per cycle: {:.1} µs (median of {} batches of 2000 runs x 3 cycles)",
        overhead * 1e6,
        options.runs
    );

    let mut config = LocalConfig::new(&options.model);
    config.threads = options.threads;
    let model = tokio::task::spawn_blocking(move || LocalModel::load(config))
        .await
        .unwrap()
        .expect("the model loads");
    // One warm-up run: page the weights in and let the allocator settle.
    local_run(&model, usize::MAX).await;

    let (mut ours_pp, mut ours_tg, mut ttft) = (Vec::new(), Vec::new(), Vec::new());
    let (mut theirs_pp, mut theirs_tg) = (Vec::new(), Vec::new());
    for run in 0..options.runs {
        let rates = local_run(&model, run).await;
        println!(
            "  run {run}: prompt {:.0} tok/s, generated {:.1} tok/s ({} tokens), first token {:.1} ms",
            rates.prompt_per_s,
            rates.generated_per_s,
            rates.generated,
            rates.first_token.as_secs_f64() * 1e3
        );
        ours_pp.push(rates.prompt_per_s);
        ours_tg.push(rates.generated_per_s);
        ttft.push(rates.first_token.as_secs_f64() * 1e3);
        if let Some(binary) = &options.llama_bench {
            let (pp, tg) = llama_bench(binary, &options);
            println!("  run {run}: llama-bench prompt {pp:.0} tok/s, generated {tg:.1} tok/s");
            theirs_pp.push(pp);
            theirs_tg.push(tg);
        }
    }
    let (pp, tg) = (median(&mut ours_pp), median(&mut ours_tg));
    println!(
        "local model, {PROMPT_TOKENS}-token prompt, {GENERATED_TOKENS} tokens out, {} threads (medians of {}):",
        options.threads, options.runs
    );
    println!("  prompt:         {pp:.0} tokens/s");
    println!("  generation:     {tg:.1} tokens/s");
    println!("  first token:    {:.1} ms", median(&mut ttft));
    if options.llama_bench.is_some() {
        let (their_pp, their_tg) = (median(&mut theirs_pp), median(&mut theirs_tg));
        println!(
            "llama.cpp llama-bench, same file and threads (medians of {}):",
            options.runs
        );
        println!(
            "  prompt:         {their_pp:.0} tokens/s   (parasol {:.2}x)",
            pp / their_pp
        );
        println!(
            "  generation:     {their_tg:.1} tokens/s   (parasol {:.2}x)",
            tg / their_tg
        );
    }
}
