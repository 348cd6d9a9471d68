//! `parasol ask`: one question, the answer streamed to the terminal.

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

use anyhow::Context;
use futures::StreamExt;
use parasol_agent::{AgentEvent, Message};

use crate::assistant;
use crate::cli::AskArgs;
use crate::settings::Settings;

/// Asks the question and prints the answer as it streams in.
pub async fn run(settings: Settings, args: AskArgs) -> anyhow::Result<ExitCode> {
    let question = match (args.question, args.starter) {
        (Some(_), Some(_)) => anyhow::bail!("give a question or --starter, not both"),
        (Some(question), None) => question,
        (None, Some(number)) => starter(number)?,
        (None, None) => read_stdin()?,
    };
    if question.trim().is_empty() {
        anyhow::bail!("no question: give one as an argument or on standard input");
    }

    let agent = assistant::build(&settings).await?;
    let mut events = agent.run(vec![Message::user(question)]);

    let mut printer = Printer {
        json: args.json,
        ended_line: true,
    };
    loop {
        tokio::select! {
            event = events.next() => {
                let Some(event) = event else { break };
                if let Some(code) = printer.print(&event)? {
                    return Ok(code);
                }
            }
            _ = tokio::signal::ctrl_c() => {
                // Dropping the stream cancels the model request and any running tool.
                drop(events);
                eprintln!("\nstopped");
                return Ok(ExitCode::from(130));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The message of starter `number`, counted from 1.
fn starter(number: usize) -> anyhow::Result<String> {
    let starters = &parasol_tools::weather::STARTERS;
    match number.checked_sub(1).and_then(|index| starters.get(index)) {
        Some(starter) => {
            eprintln!("» {}", starter.message);
            Ok(starter.message.to_owned())
        }
        None => anyhow::bail!("--starter takes 1 to {}", starters.len()),
    }
}

fn read_stdin() -> anyhow::Result<String> {
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("Type your question, then Ctrl-D:");
    }
    let mut question = String::new();
    stdin
        .read_to_string(&mut question)
        .context("cannot read the question from standard input")?;
    Ok(question)
}

struct Printer {
    json: bool,
    /// Whether standard output is at the start of a line.
    ended_line: bool,
}

impl Printer {
    /// Prints one event; returns an exit code when the run is over with an error.
    fn print(&mut self, event: &AgentEvent) -> anyhow::Result<Option<ExitCode>> {
        let mut stdout = std::io::stdout().lock();
        if self.json {
            serde_json::to_writer(&mut stdout, event)?;
            writeln!(stdout)?;
            stdout.flush()?;
            return Ok(matches!(event, AgentEvent::Error { .. }).then_some(ExitCode::FAILURE));
        }
        match event {
            AgentEvent::TextDelta { text } => {
                write!(stdout, "{text}")?;
                stdout.flush()?;
                self.ended_line = text.ends_with('\n');
            }
            AgentEvent::ToolStart { name, input, .. } => {
                self.end_line(&mut stdout)?;
                eprintln!("▶ {name} {input}");
            }
            AgentEvent::ToolEnd {
                name,
                output,
                error,
                duration_ms,
                ..
            } => match (output, error) {
                (_, Some(error)) => eprintln!("✗ {name} failed after {duration_ms:.0} ms: {error}"),
                (output, None) => {
                    let shown = output.as_ref().map(abbreviate).unwrap_or_default();
                    eprintln!("✓ {name} ({duration_ms:.0} ms) {shown}");
                }
            },
            AgentEvent::Final { .. } => self.end_line(&mut stdout)?,
            AgentEvent::Usage { usage } => {
                tracing::info!(
                    input = usage.input_tokens,
                    output = usage.output_tokens,
                    "tokens used"
                );
            }
            AgentEvent::Error { message } => {
                self.end_line(&mut stdout)?;
                eprintln!("parasol: {message}");
                return Ok(Some(ExitCode::FAILURE));
            }
            AgentEvent::CycleEnd { .. } | AgentEvent::Message { .. } => {}
        }
        Ok(None)
    }

    fn end_line(&mut self, stdout: &mut impl Write) -> std::io::Result<()> {
        if !self.ended_line {
            writeln!(stdout)?;
            self.ended_line = true;
        }
        Ok(())
    }
}

fn abbreviate(value: &serde_json::Value) -> String {
    const LIMIT: usize = 200;
    let text = value.to_string();
    if text.chars().count() <= LIMIT {
        return text;
    }
    format!("{}…", text.chars().take(LIMIT).collect::<String>())
}
