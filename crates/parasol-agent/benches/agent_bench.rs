//! Benchmarks of the agent runtime. Run with `scripts/bench-agent` (see
//! docs/BENCHMARKS.md), or directly:
//!
//! ```text
//! cargo bench -p parasol-agent --bench agent_bench -- [--model FILE] [--threads N]
//!     [--runs N]
//! ```
//!
//! It prints, as medians over the runs:
//! - the agent loop's own cost per cycle (a scripted model that answers at once and a
//!   tool that does nothing, so all that is measured is the loop);
//! - for the local model: prompt tokens/s, generated tokens/s and time to first token;
//! - the same two rates from llama.cpp alone (its C API driven the way `llama-bench`
//!   does it) on the same build, file and thread count, run alternately with ours, and
//!   the ratios.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
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
}

fn options() -> Options {
    let mut options = Options {
        model: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../data/models/SmolLM2-135M-Instruct.Q4_1.gguf"),
        threads: 2,
        runs: 5,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--model" => options.model = args.next().expect("--model FILE").into(),
            "--threads" => {
                options.threads = args.next().expect("--threads N").parse().expect("a number")
            }
            "--runs" => options.runs = args.next().expect("--runs N").parse().expect("a number"),
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

/// The same prompt text the provider reads in run `run`, as exactly [`PROMPT_TOKENS`]
/// tokens.
fn raw_prompt(raw: &LlamaModel, model: &LocalModel, run: usize) -> Vec<LlamaToken> {
    let text = long_prompt(model, run, PROMPT_TOKENS + 16);
    let mut tokens = raw.vocab().tokenize(text.as_bytes(), true, false);
    tokens.truncate(PROMPT_TOKENS);
    tokens
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

/// llama.cpp's own speed on the same file and threads, measured the way its
/// `llama-bench` does (`pp512`, `tg128`): one batch of prompt tokens, then single-token
/// decodes, straight through its C API with none of Parasol's code in the loop. Returns
/// (prompt tokens/s, generated tokens/s).
fn raw_llama(model: &LlamaModel, threads: u32, prompt: &[LlamaToken]) -> (f64, f64) {
    let backend = parasol_agent::model::local::backend().unwrap();
    let threads = threads as i32;
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(4096))
        .with_n_batch(512)
        .with_n_threads(threads)
        .with_n_threads_batch(threads);
    let mut context = model.new_context(backend, params).unwrap();
    let mut batch = LlamaBatch::new(PROMPT_TOKENS, 1);
    for (position, token) in prompt.iter().enumerate() {
        batch
            .add(*token, position as i32, &[0], position + 1 == prompt.len())
            .unwrap();
    }
    let started = Instant::now();
    context.decode(&mut batch).unwrap();
    let prompt_rate = prompt.len() as f64 / started.elapsed().as_secs_f64();

    let mut sampler = LlamaSampler::greedy();
    let mut token = sampler.sample(&context, -1);
    let started = Instant::now();
    for step in 0..GENERATED_TOKENS as usize {
        batch.clear();
        batch
            .add(token, (prompt.len() + step) as i32, &[0], true)
            .unwrap();
        context.decode(&mut batch).unwrap();
        token = sampler.sample(&context, -1);
    }
    let generated_rate = f64::from(GENERATED_TOKENS) / started.elapsed().as_secs_f64();
    (prompt_rate, generated_rate)
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
    let raw = LlamaModel::load_from_file(
        parasol_agent::model::local::backend().unwrap(),
        &options.model,
        &LlamaModelParams::default(),
    )
    .unwrap();

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
        let (pp, tg) = raw_llama(&raw, options.threads, &raw_prompt(&raw, &model, run));
        println!("  run {run}: llama.cpp alone: prompt {pp:.0} tok/s, generated {tg:.1} tok/s");
        theirs_pp.push(pp);
        theirs_tg.push(tg);
    }
    let (pp, tg) = (median(&mut ours_pp), median(&mut ours_tg));
    println!(
        "local model, {PROMPT_TOKENS}-token prompt, {GENERATED_TOKENS} tokens out, {} threads (medians of {}):",
        options.threads, options.runs
    );
    println!("  prompt:         {pp:.0} tokens/s");
    println!("  generation:     {tg:.1} tokens/s");
    println!("  first token:    {:.1} ms", median(&mut ttft));
    let (their_pp, their_tg) = (median(&mut theirs_pp), median(&mut theirs_tg));
    println!(
        "llama.cpp alone, same build, file and threads, pp{PROMPT_TOKENS}/tg{GENERATED_TOKENS} (medians of {}):",
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
