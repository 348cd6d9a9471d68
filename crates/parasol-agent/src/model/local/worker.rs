//! The thread that owns the llama.cpp context and generates, one request at a time.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use super::LocalConfig;
use super::prompt::{self, CALL_OPEN};
use crate::model::{ModelError, ModelEvent, ModelRequest, StopReason, ToolChoice, Usage};

/// Prompt tokens decoded per llama.cpp call.
const BATCH: usize = 512;

pub(super) struct Job {
    pub(super) request: ModelRequest,
    pub(super) events: tokio::sync::mpsc::Sender<Result<ModelEvent, ModelError>>,
}

/// Starts the worker and returns where to send it jobs.
pub(super) fn start(
    model: Arc<LlamaModel>,
    backend: &'static LlamaBackend,
    n_ctx: NonZeroU32,
    config: &LocalConfig,
    generated: Arc<AtomicU64>,
) -> Result<mpsc::Sender<Job>, ModelError> {
    let (jobs, receiver) = mpsc::channel::<Job>();
    let threads = i32::try_from(config.threads.max(1)).unwrap_or(1);
    let sampling = Sampling {
        temperature: config.temperature,
        seed: config.seed,
    };
    let (ready, started) = mpsc::channel();
    std::thread::Builder::new()
        .name("parasol-llama".to_owned())
        .spawn(move || {
            let params = LlamaContextParams::default()
                .with_n_ctx(Some(n_ctx))
                .with_n_batch(BATCH as u32)
                .with_n_threads(threads)
                .with_n_threads_batch(threads);
            let context = match model.new_context(backend, params) {
                Ok(context) => context,
                Err(error) => {
                    let _ = ready.send(Err(ModelError::Local(format!(
                        "cannot create a context: {error}"
                    ))));
                    return;
                }
            };
            let _ = ready.send(Ok(()));
            let mut worker = Worker {
                model: &model,
                context,
                cached: Vec::new(),
                sampling,
                generated,
            };
            for job in receiver {
                worker.serve(job);
            }
        })
        .map_err(|error| ModelError::Local(format!("cannot start the model thread: {error}")))?;
    started
        .recv()
        .map_err(|_| ModelError::Local("the model thread died while starting".to_owned()))??;
    Ok(jobs)
}

#[derive(Debug, Clone, Copy)]
struct Sampling {
    temperature: f32,
    seed: u32,
}

struct Worker<'m> {
    model: &'m LlamaModel,
    context: LlamaContext<'m>,
    /// The tokens whose keys and values are in the context's cache, in order.
    cached: Vec<LlamaToken>,
    sampling: Sampling,
    /// Tokens generated since the model was loaded, across all requests.
    generated: Arc<AtomicU64>,
}

/// Whether the job's reader is still there.
enum Flow {
    Continue,
    Cancelled,
}

impl Worker<'_> {
    fn serve(&mut self, job: Job) {
        if job.events.is_closed() {
            return;
        }
        if let Err(error) = self.generate(&job) {
            // After a failed decode the cache holds an unknown state: start afresh.
            self.context.clear_kv_cache();
            self.cached.clear();
            let _ = job.events.blocking_send(Err(error));
        }
    }

    fn generate(&mut self, job: &Job) -> Result<(), ModelError> {
        let request = &job.request;
        let prompt_tokens = self.prompt_tokens(request)?;
        let n_ctx = self.context.n_ctx() as usize;
        if prompt_tokens.len() >= n_ctx {
            return Err(ModelError::ContextOverflow {
                needed: prompt_tokens.len(),
                limit: n_ctx,
            });
        }
        let budget = (request.max_tokens as usize).min(n_ctx - prompt_tokens.len());
        let mut sampler = self.sampler(request)?;
        self.read_prompt(&prompt_tokens)?;

        let streams_text = request.tool_choice != ToolChoice::Required;
        // Without tools on offer, whatever the model writes is its answer, even text that
        // looks like a call copied from earlier in the conversation.
        let reads_calls = !request.tools.is_empty() && request.tool_choice != ToolChoice::None;
        let mut output = Output {
            reads_calls,
            ..Output::default()
        };
        let mut reason = StopReason::MaxTokens;
        let mut generated = 0;
        while generated < budget {
            let token = sampler.sample(&self.context, -1);
            if self.model.vocab().is_eog(token) {
                reason = StopReason::EndTurn;
                break;
            }
            generated += 1;
            self.generated.fetch_add(1, Ordering::Relaxed);
            output.push(&self.model.vocab().token_to_piece(token, false, None));
            if streams_text {
                if let Some(delta) = output.visible_delta()
                    && let Flow::Cancelled = send(job, ModelEvent::TextDelta(delta))
                {
                    return Ok(());
                }
            } else if job.events.is_closed() {
                return Ok(());
            }
            self.decode(&[token])?;
        }

        let (text, calls) = if reads_calls {
            prompt::parse_output(&output.text)
        } else {
            (output.text.clone(), Vec::new())
        };
        if streams_text
            && calls.is_empty()
            && output.shown < text.len()
            && let Flow::Cancelled =
                send(job, ModelEvent::TextDelta(text[output.shown..].to_owned()))
        {
            return Ok(());
        }
        if !calls.is_empty() {
            reason = StopReason::ToolUse;
        }
        for call in calls {
            if let Flow::Cancelled = send(job, ModelEvent::ToolUse(call)) {
                return Ok(());
            }
        }
        let usage = Usage {
            input_tokens: prompt_tokens.len() as u64,
            output_tokens: generated as u64,
        };
        send(job, ModelEvent::Stop { reason, usage });
        Ok(())
    }

    fn prompt_tokens(&self, request: &ModelRequest) -> Result<Vec<LlamaToken>, ModelError> {
        let messages = prompt::chat_messages(request)
            .into_iter()
            .map(|(role, content)| LlamaChatMessage::new(role, content))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| {
                ModelError::Local(format!("the conversation holds a NUL byte: {error}"))
            })?;
        // GGUF files carry their chat template; ChatML is the usual one when they do not.
        let template = match self.model.chat_template(None) {
            Ok(template) => template,
            Err(_) => LlamaChatTemplate::new("chatml")
                .map_err(|error| ModelError::Local(error.to_string()))?,
        };
        let text = self
            .model
            .apply_chat_template(&template, &messages, true)
            .map_err(|error| ModelError::Local(format!("the chat template failed: {error}")))?;
        Ok(self.model.vocab().tokenize(text.as_bytes(), true, true))
    }

    fn sampler(&self, request: &ModelRequest) -> Result<LlamaSampler, ModelError> {
        let mut chain = Vec::new();
        if !request.tools.is_empty() && request.tool_choice != ToolChoice::None {
            let schema = prompt::call_schema(&request.tools);
            let json = llama_cpp_2::json_schema_to_grammar(&schema).map_err(|error| {
                ModelError::Local(format!("no grammar for the tool schemas: {error}"))
            })?;
            let grammar = prompt::call_grammar(&json);
            let sampler = match request.tool_choice {
                ToolChoice::Required => LlamaSampler::grammar(self.model, &grammar, "root"),
                _ => LlamaSampler::grammar_lazy(self.model, &grammar, "root", [CALL_OPEN], &[]),
            };
            chain.push(
                sampler.map_err(|error| ModelError::Local(format!("bad tool grammar: {error}")))?,
            );
        }
        let n_vocab = self.model.n_vocab();
        chain.push(LlamaSampler::penalties(n_vocab, 64, 1.1, 0.0, 0.0));
        if self.sampling.temperature <= 0.0 {
            chain.push(LlamaSampler::greedy());
        } else {
            chain.push(LlamaSampler::top_k(40));
            chain.push(LlamaSampler::top_p(0.95, 1));
            chain.push(LlamaSampler::temp(self.sampling.temperature));
            chain.push(LlamaSampler::dist(self.sampling.seed));
        }
        Ok(LlamaSampler::chain_simple(chain))
    }

    /// Puts `tokens` in the cache, reusing the longest prefix already there.
    fn read_prompt(&mut self, tokens: &[LlamaToken]) -> Result<(), ModelError> {
        let mut common = self
            .cached
            .iter()
            .zip(tokens)
            .take_while(|(a, b)| a == b)
            .count();
        // At least one token must be decoded, for its logits.
        common = common.min(tokens.len().saturating_sub(1));
        if self
            .context
            .kv_cache_seq_rm(0, Some(common as u32), None)
            .is_err()
        {
            self.context.clear_kv_cache();
            common = 0;
        }
        self.cached.truncate(common);
        for chunk in tokens[common..].chunks(BATCH) {
            self.decode(chunk)?;
        }
        Ok(())
    }

    /// Decodes `tokens` after those in the cache, with logits for the last one.
    fn decode(&mut self, tokens: &[LlamaToken]) -> Result<(), ModelError> {
        let mut batch = LlamaBatch::new(tokens.len(), 1);
        let start = self.cached.len();
        for (offset, token) in tokens.iter().enumerate() {
            let position = i32::try_from(start + offset)
                .map_err(|_| ModelError::Local("position out of range".to_owned()))?;
            batch
                .add(*token, position, &[0], offset + 1 == tokens.len())
                .map_err(|error| ModelError::Local(error.to_string()))?;
        }
        self.context
            .decode(&mut batch)
            .map_err(|error| ModelError::Local(format!("decoding failed: {error}")))?;
        self.cached.extend_from_slice(tokens);
        Ok(())
    }
}

fn send(job: &Job, event: ModelEvent) -> Flow {
    match job.events.blocking_send(Ok(event)) {
        Ok(()) => Flow::Continue,
        Err(_) => Flow::Cancelled,
    }
}

/// The generated text, decoded from token bytes that may split a UTF-8 character.
#[derive(Default)]
struct Output {
    text: String,
    pending: Vec<u8>,
    /// Bytes of `text` already streamed.
    shown: usize,
    /// Whether a tool call may begin in the text, so its opening must be held back.
    reads_calls: bool,
}

impl Output {
    fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(valid) => {
                    self.text.push_str(valid);
                    self.pending.clear();
                    return;
                }
                Err(error) => {
                    let valid = error.valid_up_to();
                    self.text
                        .push_str(&String::from_utf8_lossy(&self.pending[..valid]));
                    match error.error_len() {
                        // An invalid sequence: replace it and go on.
                        Some(bad) => {
                            self.text.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                        // An incomplete character: wait for the next token.
                        None => {
                            self.pending.drain(..valid);
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Text that can be streamed now: everything before a tool call, less a tail that
    /// may be the start of one.
    fn visible_delta(&mut self) -> Option<String> {
        let end = match self.text.find(CALL_OPEN) {
            _ if !self.reads_calls => self.text.len(),
            Some(call) => call,
            None => prompt::safe_prefix_len(&self.text),
        };
        if end <= self.shown {
            return None;
        }
        let delta = self.text[self.shown..end].to_owned();
        self.shown = end;
        Some(delta)
    }
}

#[cfg(test)]
mod tests {
    use super::Output;

    #[test]
    fn a_call_opening_is_held_back_only_while_calls_are_read() {
        let mut reading = Output {
            reads_calls: true,
            ..Output::default()
        };
        reading.push(b"Let me check <tool");
        assert_eq!(reading.visible_delta().as_deref(), Some("Let me check "));
        reading.push(b"_call>{\"name\"");
        assert_eq!(reading.visible_delta(), None);

        let mut answering = Output::default();
        answering.push(b"Copied: <tool_call>{}");
        assert_eq!(
            answering.visible_delta().as_deref(),
            Some("Copied: <tool_call>{}")
        );
    }

    #[test]
    fn a_character_split_across_tokens_waits_for_its_second_half() {
        let mut output = Output::default();
        output.push(&[b'a', 0xC3]);
        assert_eq!(output.visible_delta().as_deref(), Some("a"));
        output.push(&[0xA9]);
        assert_eq!(output.visible_delta().as_deref(), Some("é"));
    }
}
