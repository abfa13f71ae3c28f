//! The customer agents of the installed flows: their configurations and
//! knowledge bases, read once per version. The switch reads no file: the
//! adapter gives a `read` function that finds and parses a knowledge base
//! (`dialect serve` relative to the flows' directory, `dialect test`
//! relative to the compilation's sources).

use dialect_acd::directory::short;
use dialect_bot::{BotConfig, Channel, Conversation, KnowledgeBase, RequestContext};
use dialect_bytecode::Program;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// A knowledge base that does not load: which, for which bot, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokenKnowledge {
    /// The campaign.
    pub campaign: String,
    /// The bot's qualified name.
    pub bot: String,
    /// The file, as the program names it.
    pub file: String,
    /// Why it does not load (the reader's words, naming the path).
    pub why: String,
}

/// The customer agents of one version of the flows.
#[derive(Clone, Default)]
pub struct Bots {
    /// By (campaign, bot's qualified name).
    configs: HashMap<(String, String), Arc<BotConfig>>,
    /// Knowledge bases by campaign and file (two campaigns from two flow
    /// directories may each have their `kb/faq.toml`).
    knowledge: HashMap<(String, String), Arc<KnowledgeBase>>,
    /// The knowledge bases that do not load.
    broken: Vec<BrokenKnowledge>,
    /// Bots an operator paused (a default handoff trigger), by short name.
    pub paused: HashSet<String>,
}

impl std::fmt::Debug for Bots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bots")
            .field("bots", &self.configs.len())
            .field("knowledge", &self.knowledge.len())
            .field("broken", &self.broken)
            .finish()
    }
}

impl Bots {
    /// Reads every program's bots; `read(program, file)` loads a knowledge
    /// base. One that does not load is remembered ([`Bots::broken`]): its
    /// bot cannot take calls. `endpoints` overrides external bots'
    /// endpoints by name (qualified or short).
    pub fn new<'a>(
        programs: impl IntoIterator<Item = &'a Program>,
        read: &dyn Fn(&Program, &str) -> Result<KnowledgeBase, String>,
        endpoints: &BTreeMap<String, String>,
    ) -> Bots {
        let mut bots = Bots::default();
        for program in programs {
            for decl in program.decls.iter().filter(|d| d.kind == "bot") {
                let Some(mut config) = BotConfig::from_program(program, &decl.name) else {
                    continue;
                };
                if let Some(endpoint) = endpoints
                    .get(&decl.name)
                    .or_else(|| endpoints.get(short(&decl.name)))
                {
                    config.endpoint = Some(endpoint.clone());
                }
                if let Some(file) = config.knowledge.clone()
                    && !bots
                        .knowledge
                        .contains_key(&(program.name.clone(), file.clone()))
                    && bots.broken_file(&program.name, &file).is_none()
                {
                    match read(program, &file) {
                        Ok(kb) => {
                            bots.knowledge
                                .insert((program.name.clone(), file), Arc::new(kb));
                        }
                        Err(why) => bots.broken.push(BrokenKnowledge {
                            campaign: program.name.clone(),
                            bot: decl.name.clone(),
                            file,
                            why,
                        }),
                    }
                }
                bots.configs
                    .insert((program.name.clone(), decl.name.clone()), Arc::new(config));
            }
        }
        bots
    }

    /// The bots' qualified names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.configs.keys().map(|(_, name)| name.as_str())
    }

    /// The knowledge bases that did not load.
    pub fn broken(&self) -> &[BrokenKnowledge] {
        &self.broken
    }

    /// Why the knowledge base `file` of `campaign` does not load, if it
    /// does not.
    pub fn broken_file(&self, campaign: &str, file: &str) -> Option<&BrokenKnowledge> {
        self.broken
            .iter()
            .find(|b| b.campaign == campaign && b.file == file)
    }

    /// The bot of that name (qualified, or its last part), with the
    /// campaign it was found in.
    pub fn find(&self, bot: &str) -> Option<(String, Arc<BotConfig>)> {
        self.configs
            .iter()
            .filter(|((_, name), _)| name == bot || short(name) == bot)
            .min_by(|a, b| a.0.cmp(b.0))
            .map(|((campaign, _), config)| (campaign.clone(), config.clone()))
    }

    /// The knowledge base of a bot of `campaign`, if it has one that
    /// loaded.
    pub fn knowledge_of(&self, campaign: &str, config: &BotConfig) -> Option<Arc<KnowledgeBase>> {
        let file = config.knowledge.as_ref()?;
        self.knowledge
            .get(&(campaign.to_string(), file.clone()))
            .cloned()
    }

    /// A new conversation with `bot` of `campaign` on `channel`.
    pub fn conversation(
        &self,
        campaign: &str,
        bot: &str,
        channel: Channel,
        id: String,
        caller: &str,
    ) -> Option<Conversation> {
        let config = self
            .configs
            .get(&(campaign.to_string(), bot.to_string()))?
            .clone();
        let kb = self.knowledge_of(campaign, &config);
        let context = RequestContext {
            campaign: campaign.to_string(),
            caller: caller.to_string(),
            variables: BTreeMap::new(),
        };
        Some(Conversation::new(config, kb, channel).with_context(id, context))
    }

    /// A chat's conversation with the bot of that name (any campaign's).
    pub fn chat_conversation(&self, bot: &str, id: String, name: &str) -> Option<Conversation> {
        let (campaign, config) = self.find(bot)?;
        let kb = self.knowledge_of(&campaign, &config);
        let context = RequestContext {
            campaign,
            caller: name.to_string(),
            variables: BTreeMap::new(),
        };
        Some(Conversation::new(config, kb, Channel::Chat).with_context(id, context))
    }
}
