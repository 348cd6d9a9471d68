//! The conversation handed to the agent, rebuilt from a thread's stored messages, and the
//! title a new thread takes from its first message.

use parasol_agent::message::{ContentBlock, Message, Role};

use crate::store;

use crate::store::DEFAULT_THREAD_TITLE;

/// The longest title taken from a message, in characters.
const TITLE_FROM_MESSAGE_CHARS: usize = 60;

/// The agent's view of a thread: each message's text, oldest first, from who wrote it and
/// its markdown; answers still being generated are not given.
///
/// Tool calls are not replayed: the model sees the answers it gave, not how it found
/// them, which keeps old tool output from filling a small model's context. Answers that
/// never got any text are left out, and messages in a row from one side are joined, since
/// some providers insist that the sides alternate.
pub(crate) fn conversation(messages: &[(store::Role, String)]) -> Vec<Message> {
    let mut conversation: Vec<Message> = Vec::new();
    for (role, content) in messages {
        if content.trim().is_empty() {
            continue;
        }
        let role = match role {
            store::Role::User => Role::User,
            store::Role::Assistant => Role::Assistant,
        };
        match conversation.last_mut() {
            Some(last) if last.role == role => {
                last.content.push(ContentBlock::Text {
                    text: format!("\n\n{content}"),
                });
            }
            _ => conversation.push(Message {
                role,
                content: vec![ContentBlock::Text {
                    text: content.clone(),
                }],
            }),
        }
    }
    conversation
}

/// A title for a thread, from the first line of its first message.
pub(crate) fn title_from(content: &str) -> String {
    let line = content
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or(DEFAULT_THREAD_TITLE);
    match line.char_indices().nth(TITLE_FROM_MESSAGE_CHARS) {
        None => line.to_owned(),
        Some((end, _)) => format!("{}…", line[..end].trim_end()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_first_line_is_cut_into_a_title() {
        let title = title_from(&format!("\n  {}\nsecond line", "a".repeat(80)));
        assert_eq!(title, format!("{}…", "a".repeat(60)));
    }

    #[test]
    fn a_short_first_line_is_the_title_as_it_is() {
        assert_eq!(title_from("Weather tomorrow?\nThanks"), "Weather tomorrow?");
    }
}
