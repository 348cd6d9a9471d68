//! The markdown renderer: hostile input first, then what ordinary markdown becomes.

mod html_check;
mod markdown;
mod xss;
