//! Who may in: allowed emails, email domains and groups.

use parasol_identity::Identity;

use crate::config::AllowConfig;

/// The authorization rules. A person passes when any list matches them, or when every list
/// is empty (then whoever the providers or the users file vouch for is in).
#[derive(Debug, Clone, Default)]
pub struct Rules {
    emails: Vec<String>,
    domains: Vec<String>,
    groups: Vec<String>,
}

impl From<&AllowConfig> for Rules {
    fn from(config: &AllowConfig) -> Self {
        let lower = |items: &[String]| -> Vec<String> {
            items
                .iter()
                .map(|item| item.trim().to_ascii_lowercase())
                .collect()
        };
        Self {
            emails: lower(&config.emails),
            domains: config
                .email_domains
                .iter()
                .map(|domain| domain.trim().trim_start_matches('@').to_ascii_lowercase())
                .collect(),
            groups: config.groups.clone(),
        }
    }
}

impl Rules {
    /// Whether `user` may use the site.
    ///
    /// Emails are matched only when the provider has verified them; callers drop unverified
    /// addresses before they build the identity.
    pub fn allows(&self, user: &Identity) -> bool {
        if self.emails.is_empty() && self.domains.is_empty() && self.groups.is_empty() {
            return true;
        }
        let email = user.email.as_deref().map(str::to_ascii_lowercase);
        let by_email = email.as_deref().is_some_and(|email| {
            self.emails.iter().any(|allowed| allowed == email)
                || email
                    .rsplit_once('@')
                    .is_some_and(|(_, domain)| self.domains.iter().any(|d| d == domain))
        });
        // Groups are compared exactly: group names are identifiers, and "Admins" and
        // "admins" may well be different groups at a provider.
        let by_group = user.groups.iter().any(|group| self.groups.contains(group));
        by_email || by_group
    }
}
