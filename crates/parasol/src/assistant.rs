//! The assistant Parasol ships: the configured model with the weather and base tools.

use std::time::Duration;

use anyhow::Context;
use parasol_agent::{Agent, AgentConfig, ToolChoice, ToolSet};
use parasol_tools::weather::{self, WeatherConfig};
use parasol_tools::{BaseToolsConfig, HttpRequestConfig};

use crate::providers;
use crate::settings::{Provider, Settings, ToolChoiceSetting};

/// The tools a small local model is offered by default: few tools, simple arguments.
const SMALL_MODEL_TOOLS: [&str; 2] = ["get_hourly_weather_data", "get_daily_forecast"];

/// Builds the agent the settings describe.
pub async fn build(settings: &Settings) -> anyhow::Result<Agent> {
    let weather = weather_config(settings);
    let tools = tools(settings, weather.clone())?;
    let system_prompt = match &settings.agent.system_prompt {
        Some(prompt) => prompt.clone(),
        None => weather::system_prompt(&weather, today(&weather.timezone)?),
    };
    let model = providers::build(settings).await?;
    let small_model = settings.model.provider == Provider::Local;
    let first_tool_choice = match settings.agent.first_tool_choice {
        Some(ToolChoiceSetting::Required) => ToolChoice::Required,
        Some(ToolChoiceSetting::Auto) => ToolChoice::Auto,
        None if small_model => ToolChoice::Required,
        None => ToolChoice::Auto,
    };
    // After its one lookup a small model answers; a capable one may look further.
    let later_tool_choice = if small_model && first_tool_choice == ToolChoice::Required {
        ToolChoice::None
    } else {
        ToolChoice::Auto
    };
    let config = AgentConfig {
        system_prompt,
        first_tool_choice,
        later_tool_choice,
        max_cycles: settings.agent.max_cycles,
        tool_timeout: Duration::from_secs(settings.agent.tool_timeout),
        max_tokens: settings.agent.max_tokens,
    };
    Ok(Agent::new(model, tools, config))
}

fn weather_config(settings: &Settings) -> WeatherConfig {
    let weather = &settings.weather;
    WeatherConfig {
        name: weather.name.clone(),
        latitude: weather.latitude,
        longitude: weather.longitude,
        timezone: weather.timezone.clone(),
        base_url: weather.base_url.clone(),
        timeout: Duration::from_secs(weather.timeout),
        cache_ttl: Duration::from_secs(weather.cache_ttl),
    }
}

/// Every tool, less those the settings do not offer.
fn tools(settings: &Settings, weather: WeatherConfig) -> anyhow::Result<ToolSet> {
    let http = &settings.tools.http_request;
    let http = HttpRequestConfig {
        allow_hosts: http.allow_hosts.clone(),
        timeout: Duration::from_secs(http.timeout),
        max_bytes: http.max_bytes,
        max_redirects: http.max_redirects,
    };
    let base = BaseToolsConfig {
        batch_call_timeout: http.timeout + Duration::from_secs(5),
        http,
        time_zone: weather.timezone.clone(),
    };
    let mut tools = parasol_tools::base_tools(base).context("cannot set up the base tools")?;
    weather::register(&mut tools, weather).context("cannot set up the weather tools")?;

    let wanted: Vec<String> = match &settings.agent.tools {
        Some(names) => names.clone(),
        None if settings.model.provider == Provider::Local => SMALL_MODEL_TOOLS
            .iter()
            .map(|name| (*name).to_owned())
            .collect(),
        None => return Ok(tools),
    };
    let known: Vec<&str> = tools.names().collect();
    if let Some(unknown) = wanted.iter().find(|name| !known.contains(&name.as_str())) {
        anyhow::bail!(
            "agent.tools names `{unknown}`, which is not a tool; the tools are: {}",
            known.join(", ")
        );
    }
    tools.retain(|name| wanted.iter().any(|wanted| wanted == name));
    Ok(tools)
}

fn today(zone: &str) -> anyhow::Result<jiff::civil::Date> {
    let zone = jiff::tz::TimeZone::get(zone)
        .with_context(|| format!("unknown time zone `{zone}` in weather.timezone"))?;
    Ok(jiff::Timestamp::now().to_zoned_datetime(zone).date())
}
