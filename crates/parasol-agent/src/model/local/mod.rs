//! A local GGUF model, run in process through llama.cpp (the `llama-cpp-2` crate).
//!
//! One worker thread owns the llama.cpp context and answers requests one at a time: on
//! a small machine, two generations at once would only halve each other's speed. The
//! worker keeps the tokens of its last prompt in the KV cache and reuses the longest
//! common prefix, so the second cycle of an agent run does not read the whole
//! conversation again.

mod prompt;
mod worker;

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, mpsc};

use async_trait::async_trait;
use futures::StreamExt;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;

use super::{Model, ModelError, ModelRequest, ModelStream};

/// How to run the local model.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// The GGUF file.
    pub path: PathBuf,
    /// CPU threads for prompt reading and generation.
    pub threads: u32,
    /// Context size in tokens, prompt and answer together.
    pub context_tokens: u32,
    /// Sampling temperature; 0 picks the likeliest token every time.
    pub temperature: f32,
    /// The sampler's seed, for reproducible answers.
    pub seed: u32,
}

impl LocalConfig {
    /// The defaults for the model at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            threads: 2,
            context_tokens: 4096,
            temperature: 0.2,
            seed: 42,
        }
    }
}

/// A GGUF model loaded in this process.
pub struct LocalModel {
    model: Arc<LlamaModel>,
    jobs: mpsc::Sender<worker::Job>,
    generated: Arc<AtomicU64>,
    name: String,
    context_tokens: usize,
}

impl std::fmt::Debug for LocalModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalModel")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// llama.cpp's backend, which may be initialised once per process; this is the one
/// instance, for anything else in the process that calls llama.cpp directly.
pub fn backend() -> Result<&'static LlamaBackend, ModelError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    let backend = BACKEND.get_or_init(|| {
        llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
        LlamaBackend::init().map_err(|error| error.to_string())
    });
    backend
        .as_ref()
        .map_err(|reason| ModelError::Local(format!("llama.cpp did not start: {reason}")))
}

impl LocalModel {
    /// Loads the model and starts its worker. This reads the whole file: call it from a
    /// blocking context.
    pub fn load(config: LocalConfig) -> Result<Self, ModelError> {
        check_file(&config)?;
        let backend = backend()?;
        let model = LlamaModel::load_from_file(backend, &config.path, &LlamaModelParams::default())
            .map_err(|error| ModelError::ModelFile {
                path: config.path.clone(),
                reason: format!("llama.cpp could not load it ({error}); the file may be damaged"),
            })?;
        let model = Arc::new(model);
        let context_tokens = config.context_tokens.min(model.n_ctx_train().max(512));
        let n_ctx = NonZeroU32::new(context_tokens)
            .ok_or_else(|| ModelError::Local("context_tokens must be above 0".to_owned()))?;
        let generated = Arc::new(AtomicU64::new(0));
        let jobs = worker::start(
            Arc::clone(&model),
            backend,
            n_ctx,
            &config,
            Arc::clone(&generated),
        )?;
        let name = config.path.file_stem().map_or_else(
            || "model".to_owned(),
            |stem| stem.to_string_lossy().into_owned(),
        );
        tracing::info!(model = %name, threads = config.threads, context_tokens, "local model loaded");
        Ok(Self {
            model,
            jobs,
            generated,
            name,
            context_tokens: context_tokens as usize,
        })
    }
}

impl LocalModel {
    /// Tokens generated since the model was loaded, over all requests.
    pub fn tokens_generated(&self) -> u64 {
        self.generated.load(Ordering::Relaxed)
    }
}

/// A missing, empty or foreign file gets an error that says so, before llama.cpp sees it.
fn check_file(config: &LocalConfig) -> Result<(), ModelError> {
    use std::io::Read;

    let fail = |reason: String| ModelError::ModelFile {
        path: config.path.clone(),
        reason,
    };
    let mut file = std::fs::File::open(&config.path).map_err(|error| fail(error.to_string()))?;
    let mut magic = [0u8; 4];
    file.read_exact(&mut magic)
        .map_err(|_| fail("the file is too short to be a GGUF model".into()))?;
    if &magic != b"GGUF" {
        return Err(fail("the file is not a GGUF model".into()));
    }
    Ok(())
}

#[async_trait]
impl Model for LocalModel {
    fn describe(&self) -> String {
        format!("local:{}", self.name)
    }

    fn context_tokens(&self) -> usize {
        self.context_tokens
    }

    fn count_tokens(&self, text: &str) -> usize {
        self.model
            .vocab()
            .tokenize(text.as_bytes(), false, false)
            .len()
    }

    async fn stream(&self, request: ModelRequest) -> Result<ModelStream, ModelError> {
        // A small buffer: the worker blocks on it, so a slow reader slows generation
        // rather than piling tokens up in memory.
        let (events, receiver) = tokio::sync::mpsc::channel(32);
        self.jobs
            .send(worker::Job { request, events })
            .map_err(|_| ModelError::Local("the model worker has stopped".to_owned()))?;
        Ok(tokio_stream(receiver).boxed())
    }
}

fn tokio_stream<T: Send + 'static>(
    mut receiver: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}
