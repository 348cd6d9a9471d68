//! `parasol users`: add, remove, list and change the password of the local users the
//! gateway signs people in with.

use std::io::BufRead;
use std::path::Path;
use std::process::ExitCode;

use parasol_gate::users::{self, LocalUser, UsersError, UsersFile};
use secrecy::{ExposeSecret, SecretString};

use crate::cli::{UsersAddArgs, UsersCommand, UsersPasswdArgs};
use crate::settings::Settings;

/// Runs one `parasol users` subcommand on the configured users file.
pub fn run(settings: &Settings, command: UsersCommand) -> anyhow::Result<ExitCode> {
    let path = settings.users_file();
    match command {
        UsersCommand::Add(args) => add(settings, &path, args),
        UsersCommand::Remove { name } => remove(&path, &name),
        UsersCommand::List => list(&path),
        UsersCommand::Passwd(args) => passwd(&path, args),
    }?;
    Ok(ExitCode::SUCCESS)
}

fn add(settings: &Settings, path: &Path, args: UsersAddArgs) -> anyhow::Result<()> {
    let mut file = UsersFile::load(path)?;
    // Before the password is asked for, so that nobody types one for nothing.
    file.check_new_name(&args.name)?;
    let password = new_password(&args.name, args.password.password_stdin)?;

    let user = LocalUser {
        name: args.name,
        display_name: args.display_name,
        email: args.email,
        groups: args.groups,
    };
    let name = user.name.clone();
    file.add(user, &password)?;
    file.save()?;

    eprintln!("added user {name} to {}", path.display());
    if settings.gate.local_users.enabled {
        eprintln!("{name} can sign in now; a running gateway rereads the file by itself");
    } else {
        eprintln!(
            "local sign-in is off: set `enabled = true` under [gate.local_users] so that \
             {name} can sign in"
        );
    }
    Ok(())
}

fn remove(path: &Path, name: &str) -> anyhow::Result<()> {
    let mut file = UsersFile::load(path)?;
    let user = file
        .remove(name)
        .map_err(|error| unknown_user(error, path))?;
    file.save()?;
    eprintln!(
        "removed user {} from {}; a session they already have is not ended",
        user.name,
        path.display()
    );
    Ok(())
}

fn passwd(path: &Path, args: UsersPasswdArgs) -> anyhow::Result<()> {
    let mut file = UsersFile::load(path)?;
    let Some(user) = file.get(&args.name) else {
        return Err(unknown_user(UsersError::UnknownUser(args.name), path));
    };
    let password = new_password(&user.name, args.password.password_stdin)?;
    file.set_password(&user.name, &password)?;
    file.save()?;
    eprintln!(
        "changed the password of {} in {}",
        user.name,
        path.display()
    );
    Ok(())
}

fn list(path: &Path) -> anyhow::Result<()> {
    let users = UsersFile::load(path)?.list();
    if users.is_empty() {
        eprintln!(
            "no users in {}; add one with `parasol users add NAME`",
            path.display()
        );
        return Ok(());
    }
    print!("{}", table(&users));
    Ok(())
}

/// The users as aligned columns under a header; a missing value shows as `-`.
fn table(users: &[LocalUser]) -> String {
    let rows: Vec<[String; 4]> = users
        .iter()
        .map(|user| {
            [
                user.name.clone(),
                user.display_name.clone().unwrap_or_else(|| "-".into()),
                user.email.clone().unwrap_or_else(|| "-".into()),
                if user.groups.is_empty() {
                    "-".into()
                } else {
                    user.groups.join(", ")
                },
            ]
        })
        .collect();
    let header = ["NAME", "DISPLAY NAME", "EMAIL", "GROUPS"].map(String::from);

    let mut widths = [0; 4];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (index, cell) in row.iter().enumerate() {
            if index + 1 == row.len() {
                line.push_str(cell);
            } else {
                let padding = widths[index] - cell.chars().count();
                line.push_str(&format!("{cell}{}  ", " ".repeat(padding)));
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// Names the file and the way to see who is in it.
fn unknown_user(error: UsersError, path: &Path) -> anyhow::Error {
    match error {
        UsersError::UnknownUser(name) => anyhow::anyhow!(
            "there is no user named `{name}` in {}; `parasol users list` shows who there is",
            path.display()
        ),
        other => other.into(),
    }
}

/// The new password of `name`: one line of standard input, or typed twice on the
/// terminal without echo.
fn new_password(name: &str, from_stdin: bool) -> anyhow::Result<SecretString> {
    if from_stdin {
        let password = password_from_stdin()?;
        users::validate_password(&password)?;
        return Ok(password);
    }

    let password = prompt(&format!("Password for {name}: "))?;
    // Checked before the confirmation, so that a too-short password is not typed twice.
    users::validate_password(&password)?;
    let again = prompt("The same password again: ")?;
    if password.expose_secret() != again.expose_secret() {
        anyhow::bail!("the two passwords differ; nothing was changed, so run the command again");
    }
    Ok(password)
}

fn prompt(text: &str) -> anyhow::Result<SecretString> {
    rpassword::prompt_password(text)
        .map(SecretString::from)
        .map_err(|error| {
            anyhow::anyhow!(
                "cannot read a password from the terminal ({error}); pass --password-stdin to \
                 read it from standard input instead"
            )
        })
}

/// The first line of standard input without its line ending; spaces are kept, as they
/// may be part of the password.
fn password_from_stdin() -> anyhow::Result<SecretString> {
    let mut line = String::new();
    let read = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|error| {
            anyhow::anyhow!("cannot read the password from standard input: {error}")
        })?;
    if read == 0 {
        anyhow::bail!(
            "no password on standard input; with --password-stdin, give the password as its \
             first line"
        );
    }
    let end = line.strip_suffix('\n').map_or(line.len(), |rest| {
        rest.strip_suffix('\r').unwrap_or(rest).len()
    });
    line.truncate(end);
    Ok(SecretString::from(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_aligns_its_columns_and_marks_missing_values() {
        let mut alice = LocalUser::new("alice");
        alice.display_name = Some("Alice Liddell".into());
        alice.email = Some("alice@example.com".into());
        alice.groups = vec!["staff".into(), "admins".into()];
        let bob = LocalUser::new("bob");

        assert_eq!(
            table(&[alice, bob]),
            concat!(
                "NAME   DISPLAY NAME   EMAIL              GROUPS\n",
                "alice  Alice Liddell  alice@example.com  staff, admins\n",
                "bob    -              -                  -\n",
            )
        );
    }
}
