//! The chat server under many people at once. Run with `scripts/bench-chat` (see
//! docs/BENCHMARKS.md), or directly:
//!
//! ```text
//! cargo bench -p parasol-chat --bench chat_bench -- [--rounds N] [--tokens M]
//!     [--streams N] [--people N]...
//! ```
//!
//! The chat server runs in a child process (this program run again with
//! `PARASOL_BENCH_ROLE=server`) over a fresh SQLite file, answering through the
//! OpenAI-compatible provider from a fake model in this process that streams as fast as
//! it can. The clients, here too, each sign in with a token of their own, make a thread,
//! and then all post at once and read their answers' streams to the end.
//!
//! It prints, as medians over the rounds (1, 10, 50 and 200 people, in turn):
//! - tokens/s delivered to all the clients together, from the first post to the last
//!   `done`;
//! - p50 and p99 of the time to first token the chat server adds: what the client saw
//!   from posting to its first `text` event, less the model's own time from the request
//!   arriving to its first chunk; and the p99 of the part before the response's headers
//!   (the question saved and the answer started);
//! - the chat server's CPU time per token delivered, everything included;
//!
//! and, once: its resident memory idle, and per stream with a thousand answers held open
//! after their first token. Chainlit 2.12's figures on the same machine are printed
//! beside them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod client;
mod model;
mod runs;
mod server;

use std::collections::BTreeMap;
use std::time::Duration;

use parasol_identity::{KeyPair, Signer};

use client::Chat;
use model::FakeModel;
use runs::{HeldFigures, RunFigures};
use server::{AUDIENCE, ISSUER, ServerProcess};

/// How many people ask at once in the runs; the middle one is the comparison's.
const CROWDS: [usize; 4] = [1, 10, 50, 200];
const COMPARED_CROWD: usize = 50;

/// Chainlit 2.12 on this machine with an equivalent harness (the issue's figures).
const CHAINLIT_TOKENS_PER_S: f64 = 9_000.0;
const CHAINLIT_P99_FIRST_TOKEN_MS: f64 = 230.0;
const CHAINLIT_IDLE_MIB: f64 = 115.0;
const CHAINLIT_SESSION_KIB: f64 = 55.0;

/// The bars: against Chainlit at 50 × 200, and absolute.
const BAR_RATIO: f64 = 10.0;
const BAR_ADDED_P99_MS: f64 = 10.0;
const BAR_STREAMS: usize = 1_000;
const BAR_STREAM_KIB: f64 = 16.0;
const BAR_IDLE_MIB: f64 = 30.0;

#[derive(Debug)]
struct Options {
    rounds: usize,
    tokens: usize,
    streams: usize,
    /// The crowds each round runs: [`CROWDS`] unless `--people` names others.
    crowds: Vec<usize>,
}

fn options() -> Options {
    let mut options = Options {
        rounds: 5,
        tokens: 200,
        streams: BAR_STREAMS,
        crowds: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rounds" => options.rounds = number("--rounds", &mut args).max(1),
            "--tokens" => options.tokens = number("--tokens", &mut args).max(1),
            "--streams" => options.streams = number("--streams", &mut args).max(1),
            "--people" => options.crowds.push(number("--people", &mut args).max(1)),
            // cargo bench passes --bench; anything else is a mistake worth hearing about.
            "--bench" => {}
            other => panic!(
                "unknown argument {other} (try --rounds N --tokens M --streams N --people N)"
            ),
        }
    }
    if options.crowds.is_empty() {
        options.crowds = CROWDS.to_vec();
    }
    options
}

fn number(name: &str, args: &mut impl Iterator<Item = String>) -> usize {
    let value = args.next().unwrap_or_else(|| panic!("{name} N"));
    value
        .parse()
        .unwrap_or_else(|_| panic!("{name} takes a number"))
}

fn main() {
    if std::env::var(server::ROLE_VAR).as_deref() == Ok("server") {
        server::serve_child();
        return;
    }
    let options = options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(&options));
}

/// Memory as the chat server holds it.
#[derive(Debug)]
struct Memory {
    at_start_kib: u64,
    idle_kib: u64,
    held: HeldFigures,
}

async fn run(options: &Options) {
    let model = FakeModel::start().await;
    let key = KeyPair::generate().unwrap();
    let server = ServerProcess::start(&model.base_url, &key);
    let signer = Signer::new(&key, ISSUER, AUDIENCE).unwrap();
    let chat = Chat::new(server.base.clone(), signer);

    let memory = measure_memory(options, &chat, &model, &server).await;
    let figures = measure_crowds(options, &chat, &model, &server).await;
    report(options, &figures, &memory);
}

/// The server idle, then with many streams open; first, while nothing else has been
/// allocated and freed.
async fn measure_memory(
    options: &Options,
    chat: &Chat,
    model: &FakeModel,
    server: &ServerProcess,
) -> Memory {
    runs::settle().await;
    let at_start_kib = server.rss_kib();
    // One answer first, so that what the first request sets up once is in place.
    runs::ask_at_once(chat, model, server, 1, options.tokens, "the warm-up").await;
    runs::settle().await;
    let idle_kib = server.rss_kib();
    eprintln!(
        "idle: {} at start, {} after one answer",
        mib(at_start_kib),
        mib(idle_kib)
    );

    let held = runs::hold_open(chat, model, server, options.streams).await;
    eprintln!(
        "{} streams held open: {:.1} KiB each ({} before, {} open, {} after)",
        held.streams,
        held.per_stream_kib(),
        mib(held.before_kib),
        mib(held.open_kib),
        mib(held.after_kib),
    );
    Memory {
        at_start_kib,
        idle_kib,
        held,
    }
}

/// Every crowd once a round, each round starting with a different one so that none
/// always follows another.
async fn measure_crowds(
    options: &Options,
    chat: &Chat,
    model: &FakeModel,
    server: &ServerProcess,
) -> BTreeMap<usize, Vec<RunFigures>> {
    let mut figures: BTreeMap<usize, Vec<RunFigures>> = BTreeMap::new();
    for round in 0..options.rounds {
        let crowds = &options.crowds;
        for turn in 0..crowds.len() {
            let users = crowds[(round + turn) % crowds.len()];
            let tag = format!("round {round}, {users} people");
            let run = runs::ask_at_once(chat, model, server, users, options.tokens, &tag).await;
            eprintln!(
                "round {}: {users:>3} × {}: {:>7.0} tokens/s, added first token p50 {} p99 {} \
                 (to the response p50 {} p99 {}), server CPU {:.1} µs/token",
                round + 1,
                options.tokens,
                run.tokens_per_s,
                ms(run.added_p50),
                ms(run.added_p99),
                ms(run.response_p50),
                ms(run.response_p99),
                micros_per_token(run.server_cpu, run.delivered),
            );
            figures.entry(users).or_default().push(run);
        }
    }
    figures
}

fn report(options: &Options, figures: &BTreeMap<usize, Vec<RunFigures>>, memory: &Memory) {
    let tokens = options.tokens;
    println!();
    println!(
        "Medians of {} rounds, {tokens}-token answers:",
        options.rounds
    );
    println!();
    println!(
        "| people × tokens | tokens/s delivered | vs Chainlit 2.12 | added first token p50 \
         | p99 | p99 to the response | chat server CPU per token |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let mut compared = None;
    for (&users, runs) in figures {
        let median = Medians::of(runs);
        let versus = if users == COMPARED_CROWD {
            compared = Some(median.clone());
            format!(
                "**{:.1}x** ({} tokens/s, p99 {CHAINLIT_P99_FIRST_TOKEN_MS:.0} ms)",
                median.tokens_per_s / CHAINLIT_TOKENS_PER_S,
                thousands(CHAINLIT_TOKENS_PER_S),
            )
        } else {
            String::new()
        };
        println!(
            "| {users} × {tokens} | {} | {versus} | {} | {} | {} | {:.1} µs |",
            thousands(median.tokens_per_s),
            ms(median.added_p50),
            ms(median.added_p99),
            ms(median.response_p99),
            median.server_cpu_per_token,
        );
    }
    println!();
    memory_table(memory);
    bars(options, compared.as_ref(), memory);
}

fn memory_table(memory: &Memory) {
    let held = &memory.held;
    println!("| chat server memory (VmRSS) | Parasol | Chainlit 2.12 |");
    println!("| --- | --- | --- |");
    println!("| idle, just started | {} | |", mib(memory.at_start_kib));
    println!(
        "| idle, after one answer | {} | about {CHAINLIT_IDLE_MIB:.0} MiB |",
        mib(memory.idle_kib)
    );
    println!(
        "| {} streams open, each after its first token | {} (from {}) | |",
        thousands(held.streams as f64),
        mib(held.open_kib),
        mib(held.before_kib),
    );
    println!(
        "| per open stream | **{:.1} KiB** | about {CHAINLIT_SESSION_KIB:.0} KiB per session |",
        held.per_stream_kib()
    );
    println!(
        "| after those streams finished | {} | |",
        mib(held.after_kib)
    );
    println!();
}

fn bars(options: &Options, compared: Option<&Medians>, memory: &Memory) {
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    if let (Some(median), true) = (compared, options.tokens == 200) {
        let ratio = median.tokens_per_s / CHAINLIT_TOKENS_PER_S;
        let p99_ms = median.added_p99.as_secs_f64() * 1e3;
        println!(
            "bar: >= {BAR_RATIO:.0}x Chainlit's tokens/s at 50 x 200: {:.1}x, {}",
            ratio,
            verdict(ratio >= BAR_RATIO)
        );
        println!(
            "bar: p99 added first token < {BAR_ADDED_P99_MS:.0} ms at 50 x 200: {p99_ms:.2} ms, {}",
            verdict(p99_ms < BAR_ADDED_P99_MS)
        );
    }
    let held = &memory.held;
    println!(
        "bar: {BAR_STREAMS} concurrent open streams held: {} held and all finished, {}",
        held.streams,
        verdict(held.streams >= BAR_STREAMS)
    );
    println!(
        "bar: < {BAR_STREAM_KIB:.0} KiB per idle open stream: {:.1} KiB, {}",
        held.per_stream_kib(),
        verdict(held.per_stream_kib() < BAR_STREAM_KIB)
    );
    let idle_mib = memory.idle_kib as f64 / 1024.0;
    println!(
        "bar: < {BAR_IDLE_MIB:.0} MiB idle: {idle_mib:.1} MiB, {}",
        verdict(idle_mib < BAR_IDLE_MIB)
    );
}

/// Each figure's median over the rounds, taken separately.
#[derive(Debug, Clone)]
struct Medians {
    tokens_per_s: f64,
    added_p50: Duration,
    added_p99: Duration,
    response_p99: Duration,
    /// Over all the rounds together: the CPU time is too short in one round of a few
    /// people to divide on its own.
    server_cpu_per_token: f64,
}

impl Medians {
    fn of(runs: &[RunFigures]) -> Self {
        let mut rates: Vec<f64> = runs.iter().map(|run| run.tokens_per_s).collect();
        rates.sort_by(f64::total_cmp);
        let median = |pick: fn(&RunFigures) -> Duration| {
            let mut values: Vec<Duration> = runs.iter().map(pick).collect();
            runs::percentile(&mut values, 0.5)
        };
        Self {
            tokens_per_s: rates[rates.len() / 2],
            added_p50: median(|run| run.added_p50),
            added_p99: median(|run| run.added_p99),
            response_p99: median(|run| run.response_p99),
            server_cpu_per_token: micros_per_token(
                runs.iter().map(|run| run.server_cpu).sum(),
                runs.iter().map(|run| run.delivered).sum(),
            ),
        }
    }
}

fn micros_per_token(cpu: Duration, tokens: usize) -> f64 {
    cpu.as_secs_f64() * 1e6 / tokens.max(1) as f64
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// A whole number with thousands separators, as the other benchmarks print them.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}
