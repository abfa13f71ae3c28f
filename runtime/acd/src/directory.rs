//! The ACD's view of the flows, read once from the programs' declarations
//! by both adapters (`dialect serve` and `dialect test`): queues (ring
//! time, overflow, priority, music, announcements), agents (the queues they
//! serve, listed, by team or by skill; their load), campaigns (priorities,
//! wrap-up and ageing rules, relationships, classifiers, record fields,
//! call-associated data, alerts).

use crate::{Millis, QueueRules, Rules};
use dialect_bytecode::{Program, Prompt, Section, Value as BValue};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A queue's settings beyond what the ACD holds.
#[derive(Clone, Debug, Default)]
pub struct QueueInfo {
    /// Added to the priority of every call in the queue.
    pub priority: i64,
    /// What callers hear while they wait (else the campaign's queue music).
    pub music: Option<Prompt>,
    /// Position and estimated-wait announcements this often.
    pub announce_every_ms: Option<Millis>,
    /// Callers may ask for a courtesy callback instead of waiting.
    pub courtesy: bool,
    /// The service level's target, in hundredths of a percent
    /// (`service_level`), and its answer time (`service_time`).
    pub service: Option<(u32, Millis)>,
}

/// The outbound channel of a campaign (`channel outbound`): its recalls'
/// priority (the campaign's plus the channel's), ageing, wait and load.
#[derive(Clone, Debug, Default)]
pub struct Outbound {
    /// The campaign's `priority` plus the channel's.
    pub priority: i64,
    /// After this wait, this factor.
    pub ageing: Vec<(Millis, i64)>,
    /// `max_wait` and `overflow_queue`.
    pub wait: Option<(Millis, Option<String>)>,
    /// `max_load`.
    pub load: Option<u32>,
}

/// A classifier (wrap-up reason) and its actions (SPEC 3.2).
#[derive(Clone, Debug, Default)]
pub struct Classifier {
    /// The name agents see.
    pub label: Option<String>,
    /// The record is to be called again.
    pub recall: bool,
    /// Closes the record.
    pub closes: bool,
    /// Counts as a success.
    pub success: bool,
    /// The contact results it may be used for (empty: all).
    pub offered_for: Vec<String>,
    /// The recall comes this long after the wrap-up.
    pub recall_after_ms: Option<Millis>,
    /// No recall later than this long after the wrap-up.
    pub max_recall_ms: Option<Millis>,
    /// The record moves to this campaign.
    pub move_to: Option<String>,
    /// The number is never called again.
    pub blacklist: bool,
    /// An e-mail goes to this address.
    pub email: Option<String>,
    /// This SMS goes to the record's number.
    pub sms: Option<String>,
    /// The record becomes private to this agent.
    pub private_to: Option<String>,
}

/// A call-associated data variable.
#[derive(Clone, Debug, Default)]
pub struct Variable {
    /// Its name.
    pub name: String,
    /// Agents may edit it.
    pub editable: bool,
    /// Masked on the agent desktop.
    pub secure: bool,
    /// Its initial value.
    pub default: String,
}

/// A campaign's settings that the ACD and the agent API use.
#[derive(Clone, Debug, Default)]
pub struct CampaignInfo {
    /// Campaign priority plus the inbound channel's priority.
    pub priority: i64,
    /// The campaign's wrap-up and ageing rules.
    pub rules: Rules,
    /// Sticky agent: how long the last agent is tried first.
    pub sticky_ms: Option<Millis>,
    /// Private record: how long the owning agent is tried first.
    pub private_ms: Option<Millis>,
    /// Wrap-up reasons by name.
    pub classifiers: BTreeMap<String, Classifier>,
    /// Record fields that a wrap-up must fill.
    pub required: Vec<String>,
    /// Every record field.
    pub fields: BTreeSet<String>,
    /// Each record field's type (`none`, `pesel`, `nip`, `regon`) and
    /// whether agents may edit it.
    pub field_specs: BTreeMap<String, (String, bool)>,
    /// The default country code for phone numbers (`48` unless set).
    pub country_code: String,
    /// Call-associated data.
    pub variables: Vec<Variable>,
    /// Played to a caller the agent puts on hold.
    pub music_on_hold: Option<Prompt>,
    /// Played to callers waiting in a queue without music of its own.
    pub queue_music: Option<Prompt>,
    /// Mask the caller's number to its last four digits for agents.
    pub sensitive: bool,
    /// The campaign's identifier (`id`), for file names.
    pub id: Option<String>,
    /// The recordings' file-name template (`recording_name`).
    pub recording_name: Option<String>,
    /// Conversations with agents are recorded: `Some(true)` in two
    /// channels (`recording high`), `Some(false)` mixed (`low`), `None`
    /// not at all.
    pub recording: Option<bool>,
    /// A paused recording resumes by itself after this long.
    pub recording_resume_after_ms: Option<Millis>,
    /// The record field whose value stands for `{field}` in the template:
    /// the `significant` field, when it is `in_recording_name`.
    pub recording_field: Option<String>,
    /// The record field that names the customer to agents (the first
    /// `significant` one): shown when a call is offered.
    pub significant: Option<String>,
    /// Monitoring alerts: kind and threshold (milliseconds for times, a
    /// count otherwise).
    pub alerts: Vec<(String, u64)>,
    /// How long a ticket of the campaign may stay open (`ticket_sla`).
    pub ticket_sla_ms: Option<Millis>,
    /// How agents take its calls (`handling`): `phone` (their phone rings,
    /// the default), `automatic` (their phone answers by itself) or
    /// `web_panel` (they accept or decline in the agent API, then their
    /// phone answers by itself).
    pub handling: String,
    /// `required_skill` (qualified name).
    pub required_skill: Option<String>,
    /// The campaign's `agents` and `teams` (qualified names).
    pub staff: (Vec<String>, Vec<String>),
    /// The agents who may take the campaign's calls (short names), when
    /// `required_skill`, `agents` or `teams` restrict them; `None`: every
    /// agent of the queue.
    pub eligible: Option<BTreeSet<String>>,
    /// The inbound channel's `max_wait` and `overflow_queue`: a call of
    /// the campaign waiting that long in any queue goes on to that queue
    /// (or times out without one).
    pub channel_wait: Option<(Millis, Option<String>)>,
    /// The inbound channel's `max_load`: an agent takes the campaign's
    /// calls only while holding fewer calls than this.
    pub channel_load: Option<u32>,
    /// The agents who serve any of the campaign's queues (short names):
    /// those whose breaks its `break_over` and `breaks_started` alerts
    /// watch.
    pub staffed_by: BTreeSet<String>,
    /// The outbound channel's rules, for the recalls the campaign places
    /// (each waits in a queue for an agent first).
    pub outbound: Outbound,
    /// When recalls may be placed: (weekday bit set, first minute, end
    /// minute), in `zone`; empty: any time.
    pub recall_windows: Vec<(u8, u32, u32)>,
    /// No recall is scheduled after this day (`YYYY-MM-DD`, in `zone`).
    pub max_recall_date: Option<String>,
    /// A closed record keeps its classifier.
    pub keep_classifier_on_closed: bool,
    /// Campaigns whose records must not be moved into this one.
    pub exclude_records_from: Vec<String>,
    /// The campaign's supervisors (agents' short names).
    pub supervisors: Vec<String>,
    /// How many calls an agent may owe a wrap-up for (unhandled records)
    /// before getting no new calls (`max_unhandled_per_agent`; none: no
    /// limit).
    pub max_unhandled: Option<u32>,
    /// At how many unhandled records the block lifts (`unblock_at`, 0 by
    /// default: all handled).
    pub unblock_at: u32,
    /// Callbacks for callers never connected: `never`, `always` or
    /// `per_block` (the default: only `callback` blocks register them).
    pub callback_unconnected: String,
    /// The campaign's time zone: that of its first schedule (recall windows
    /// and dates are read in it); UTC without one.
    pub zone: String,
}

/// Everything read from the declarations.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    /// Queues by qualified name (lanes included).
    pub queues: HashMap<String, QueueInfo>,
    /// Lanes: a campaign whose calls only some agents may take
    /// (`required_skill`, `agents`, `teams`), that bounds their wait (its
    /// inbound channel's `max_wait` and `overflow_queue`) or its agents'
    /// load (the channel's `max_load`) waits in each of
    /// its queues through a lane of its own, `QUEUE@CAMPAIGN`: an ACD
    /// queue with the queue's rules (and the channel's wait), served by the
    /// queue's agents that the campaign allows. An agent serving both takes
    /// the best call of all their queues and lanes, so priority order holds
    /// across them. (campaign, queue) to the lane.
    pub lanes: HashMap<(String, String), String>,
    /// Campaigns by name.
    pub campaigns: HashMap<String, CampaignInfo>,
    /// The ACD's queues.
    pub queue_rules: Vec<QueueRules>,
    /// Agents (unqualified names): the queues they serve and their load.
    pub agents: BTreeMap<String, (Vec<String>, u32)>,
    /// The ACD's rules (wrap-up, ageing) from the campaigns.
    pub rules: Rules,
    /// Teams (qualified names) and their members (agents' short names).
    pub teams: HashMap<String, Vec<String>>,
    /// Internal extension numbers (`extension` of agents and queues).
    pub extensions: HashMap<String, Extension>,
    /// The agents' SIP URIs as the flows give them (`uri`), by short name.
    pub agent_uris: HashMap<String, String>,
}

/// What an internal extension number reaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Extension {
    /// An agent (short name).
    Agent(String),
    /// A queue (qualified name), and how long a caller waits there (its
    /// `max_wait`, 30 minutes by default).
    Queue(String, Millis),
}

/// The last part of a qualified name: `common/agents.alice` is `alice`.
pub fn short(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

fn refs(value: Option<&BValue>) -> Vec<String> {
    match value {
        Some(BValue::List(items)) => items
            .iter()
            .filter_map(|v| match v {
                BValue::Ref(_, name) => Some(name.clone()),
                _ => None,
            })
            .collect(),
        Some(BValue::Ref(_, name)) => vec![name.clone()],
        _ => Vec::new(),
    }
}

fn int(value: Option<&BValue>) -> Option<i64> {
    match value {
        Some(BValue::Int(n)) => Some(*n),
        _ => None,
    }
}

fn duration(value: Option<&BValue>) -> Option<Millis> {
    match value {
        Some(BValue::Duration(ms)) => Some(*ms),
        _ => None,
    }
}

fn boolean(value: Option<&BValue>) -> bool {
    matches!(value, Some(BValue::Bool(true)))
}

fn text(value: Option<&BValue>) -> Option<String> {
    match value {
        Some(BValue::Text(t)) => Some(t.clone()),
        _ => None,
    }
}

fn prompt(program: &Program, value: Option<&BValue>) -> Option<Prompt> {
    match value {
        Some(BValue::Prompt(i)) => program.prompts.get(usize::try_from(*i).ok()?).cloned(),
        _ => None,
    }
}

impl Directory {
    /// Reads the declarations of every program.
    pub fn new<'a>(programs: impl IntoIterator<Item = &'a Program>) -> Directory {
        let mut directory = Directory::default();
        let mut decls: BTreeMap<(String, String), Section> = BTreeMap::new();
        let mut first_campaign = true;
        let mut music: HashMap<String, Prompt> = HashMap::new();
        // Each campaign's queues (those its program declares or imports).
        let mut campaign_queues: Vec<(String, Vec<String>)> = Vec::new();
        for program in programs {
            campaign_queues.push((
                program.name.clone(),
                program
                    .decls
                    .iter()
                    .filter(|d| d.kind == "queue")
                    .map(|d| d.name.clone())
                    .collect(),
            ));
            for decl in &program.decls {
                decls.insert((decl.kind.clone(), decl.name.clone()), decl.clone());
                if decl.kind == "queue"
                    && let Some(p) = prompt(program, decl.settings.get("music"))
                {
                    music.insert(decl.name.clone(), p);
                }
            }
            directory
                .campaigns
                .insert(program.name.clone(), campaign(program));
            // The ACD's own rules, for entries without a campaign's (a
            // callback being placed): the first campaign's wrap-up, and no
            // ageing (each call ages by its own campaign's levels).
            if first_campaign {
                first_campaign = false;
                if let Some(info) = directory.campaigns.get(&program.name) {
                    directory.rules = info.rules.clone();
                    directory.rules.ageing.clear();
                }
            }
        }
        let teams: HashMap<&str, Vec<String>> = decls
            .values()
            .filter(|d| d.kind == "team")
            .map(|d| (d.name.as_str(), refs(d.settings.get("members"))))
            .collect();
        directory.teams = teams
            .iter()
            .map(|(team, members)| {
                let members = members.iter().map(|m| short(m).to_string()).collect();
                ((*team).to_string(), members)
            })
            .collect();
        for decl in decls.values().filter(|d| d.kind == "agent") {
            if let Some(uri) = text(decl.settings.get("uri")) {
                directory
                    .agent_uris
                    .insert(short(&decl.name).to_string(), uri);
            }
        }
        for decl in decls.values() {
            let Some(BValue::Int(number)) = decl.settings.get("extension") else {
                continue;
            };
            let target = match decl.kind.as_str() {
                "agent" => Extension::Agent(short(&decl.name).to_string()),
                "queue" => Extension::Queue(
                    decl.name.clone(),
                    duration(decl.settings.get("max_wait")).unwrap_or(30 * 60_000),
                ),
                _ => continue,
            };
            directory.extensions.insert(number.to_string(), target);
        }
        let mut serves: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let agents: Vec<&Section> = decls.values().filter(|d| d.kind == "agent").collect();
        for queue in decls.values().filter(|d| d.kind == "queue") {
            let s = &queue.settings;
            let overflow = refs(s.get("overflow_queue")).into_iter().next();
            let mut rules = QueueRules::new(&queue.name);
            rules.ring_ms = duration(s.get("ring_time")).unwrap_or(20_000);
            if overflow.is_some() {
                rules.max_wait_ms = duration(s.get("max_wait")).or(Some(30 * 60_000));
            }
            rules.overflow = overflow;
            rules.max_size = int(s.get("max_size")).and_then(|n| usize::try_from(n).ok());
            directory.queue_rules.push(rules);
            directory.queues.insert(
                queue.name.clone(),
                QueueInfo {
                    priority: int(s.get("priority")).unwrap_or(0),
                    music: music.get(&queue.name).cloned(),
                    announce_every_ms: duration(s.get("announce_every")),
                    courtesy: boolean(s.get("courtesy_callback")),
                    service: match (s.get("service_level"), duration(s.get("service_time"))) {
                        (Some(BValue::Percent(target)), Some(time)) => Some((*target, time)),
                        (None, Some(time)) => Some((8_000, time)),
                        _ => None,
                    },
                },
            );
            let mut members: BTreeSet<String> = refs(s.get("agents")).into_iter().collect();
            for team in refs(s.get("teams")) {
                members.extend(teams.get(team.as_str()).cloned().unwrap_or_default());
            }
            if let Some(skill) = refs(s.get("skill")).into_iter().next() {
                for agent in &agents {
                    if refs(agent.settings.get("skills")).contains(&skill) {
                        members.insert(agent.name.clone());
                    }
                }
            }
            for member in members {
                serves
                    .entry(short(&member).to_string())
                    .or_default()
                    .push(queue.name.clone());
            }
        }
        directory.add_lanes(&campaign_queues, &agents, &teams, &mut serves);
        for agent in agents {
            let name = short(&agent.name).to_string();
            let load = int(agent.settings.get("max_load"))
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(1);
            let queues = serves.remove(&name).unwrap_or_default();
            directory.agents.insert(name, (queues, load));
        }
        directory
    }

    /// Each restricted campaign's eligible agents, and its lanes (see
    /// [`Directory::lanes`]) with their rules, information and agents.
    fn add_lanes(
        &mut self,
        campaign_queues: &[(String, Vec<String>)],
        agents: &[&Section],
        teams: &HashMap<&str, Vec<String>>,
        serves: &mut BTreeMap<String, Vec<String>>,
    ) {
        for (campaign, queues) in campaign_queues {
            let staffed: BTreeSet<String> = serves
                .iter()
                .filter(|(_, served)| served.iter().any(|q| queues.contains(q)))
                .map(|(agent, _)| agent.clone())
                .collect();
            let Some(info) = self.campaigns.get_mut(campaign) else {
                continue;
            };
            info.staffed_by = staffed;
            let mut eligible: Option<BTreeSet<String>> = None;
            if let Some(skill) = &info.required_skill {
                eligible = Some(
                    agents
                        .iter()
                        .filter(|a| refs(a.settings.get("skills")).contains(skill))
                        .map(|a| short(&a.name).to_string())
                        .collect(),
                );
            }
            let (staff, staff_teams) = &info.staff;
            if !staff.is_empty() || !staff_teams.is_empty() {
                let mut listed: BTreeSet<String> =
                    staff.iter().map(|a| short(a).to_string()).collect();
                for team in staff_teams {
                    let members = teams.get(team.as_str()).into_iter().flatten();
                    listed.extend(members.map(|m| short(m).to_string()));
                }
                eligible = Some(match eligible {
                    Some(skilled) => skilled.intersection(&listed).cloned().collect(),
                    None => listed,
                });
            }
            info.eligible = eligible.clone();
            let outbound = (info.outbound.wait.clone(), info.outbound.load);
            let inbound = (info.channel_wait.clone(), info.channel_load);
            for (suffix, (wait, load)) in [("", inbound), ("/outbound", outbound)] {
                if eligible.is_none() && wait.is_none() && load.is_none() {
                    continue;
                }
                self.add_lane(
                    campaign,
                    queues,
                    suffix,
                    eligible.as_ref(),
                    (wait, load),
                    serves,
                );
            }
        }
    }

    /// A campaign's lanes of its `queues` for one channel (`suffix`: empty
    /// for inbound, `/outbound`).
    fn add_lane(
        &mut self,
        campaign: &str,
        queues: &[String],
        suffix: &str,
        eligible: Option<&BTreeSet<String>>,
        (wait, load): (Option<(Millis, Option<String>)>, Option<u32>),
        serves: &mut BTreeMap<String, Vec<String>>,
    ) {
        for queue in queues {
            let Some(base) = self.queue_rules.iter().find(|r| r.name == *queue) else {
                continue;
            };
            let lane = format!("{queue}@{campaign}{suffix}");
            let mut rules = base.clone();
            rules.name = lane.clone();
            rules.max_load = load;
            if let Some((ms, overflow)) = &wait {
                rules.max_wait_ms = Some(rules.max_wait_ms.map_or(*ms, |m| m.min(*ms)));
                rules.overflow = overflow.clone().or(rules.overflow);
            }
            self.queue_rules.push(rules);
            if let Some(info) = self.queues.get(queue).cloned() {
                self.queues.insert(lane.clone(), info);
            }
            for (agent, served) in serves.iter_mut() {
                let allowed = eligible.is_none_or(|e| e.contains(agent));
                if allowed && served.contains(queue) {
                    served.push(lane.clone());
                }
            }
            self.lanes
                .insert((format!("{campaign}{suffix}"), queue.clone()), lane);
        }
    }

    /// The ACD queue a call of `campaign` waits in for `queue`: its lane,
    /// or the queue itself.
    pub fn lane<'a>(&'a self, campaign: &str, queue: &'a str) -> &'a str {
        self.lanes
            .get(&(campaign.to_string(), queue.to_string()))
            .map_or(queue, String::as_str)
    }

    /// The ACD queue a recall of `campaign` waits in for `queue`: its
    /// outbound lane, or the queue itself.
    pub fn outbound_lane(&self, campaign: &str, queue: &str) -> String {
        self.lanes
            .get(&(format!("{campaign}/outbound"), queue.to_string()))
            .cloned()
            .unwrap_or_else(|| queue.to_string())
    }

    /// The queue a lane (or queue) stands for.
    pub fn base_queue(name: &str) -> &str {
        name.split_once('@').map_or(name, |(queue, _)| queue)
    }

    /// Whether a queue of that qualified name is declared.
    pub fn has_queue(&self, name: &str) -> bool {
        self.queues.contains_key(name)
    }

    /// A queue's qualified name from what a person typed: the qualified
    /// name itself, or its last part (`sales` for `common/queues.sales`).
    pub fn queue_named(&self, name: &str) -> Option<String> {
        if self.queues.contains_key(name) {
            return Some(name.to_string());
        }
        let mut found = self.queues.keys().filter(|q| short(q) == name);
        let first = found.next()?.clone();
        // Ambiguous short names are not guessed.
        found.next().is_none().then_some(first)
    }
}

/// A channel's `age` levels: (after, factor).
fn ageing_of(channel: &Section) -> Vec<(Millis, i64)> {
    let mut ageing = Vec::new();
    if let Some(BValue::List(levels)) = channel.settings.get("age") {
        for level in levels {
            if let BValue::List(pair) = level
                && let [BValue::Duration(after), BValue::Int(factor)] = pair.as_slice()
            {
                ageing.push((*after, *factor));
            }
        }
    }
    ageing
}

fn campaign(program: &Program) -> CampaignInfo {
    let s = &program.settings;
    let channel = program
        .sections
        .iter()
        .find(|c| c.kind == "channel" && c.name == "inbound");
    let ageing = channel.map(ageing_of).unwrap_or_default();
    let outbound = program
        .sections
        .iter()
        .find(|c| c.kind == "channel" && c.name == "outbound")
        .map(|c| Outbound {
            priority: int(s.get("priority")).unwrap_or(0)
                + int(c.settings.get("priority")).unwrap_or(0),
            ageing: ageing_of(c),
            wait: duration(c.settings.get("max_wait")).map(|ms| {
                (
                    ms,
                    refs(c.settings.get("overflow_queue")).into_iter().next(),
                )
            }),
            load: int(c.settings.get("max_load")).and_then(|n| u32::try_from(n).ok()),
        })
        .unwrap_or_else(|| Outbound {
            priority: int(s.get("priority")).unwrap_or(0),
            ..Outbound::default()
        });
    let mut info = CampaignInfo {
        rules: Rules {
            wrap_up_ms: duration(s.get("wrap_up")).unwrap_or(0),
            extra_wrap_up_ms: duration(s.get("extra_wrap_up")).unwrap_or(0),
            ageing,
        },
        priority: int(s.get("priority")).unwrap_or(0)
            + channel
                .and_then(|c| int(c.settings.get("priority")))
                .unwrap_or(0),
        sticky_ms: duration(s.get("sticky_agent")),
        id: text(s.get("id")),
        recording_name: text(s.get("recording_name")),
        recording: match s.get("recording") {
            Some(BValue::Word(w)) if w == "high" => Some(true),
            Some(BValue::Word(w)) if w == "low" => Some(false),
            _ => None,
        },
        recording_resume_after_ms: duration(s.get("recording_resume_after")),
        ticket_sla_ms: duration(s.get("ticket_sla")),
        handling: match s.get("handling") {
            Some(BValue::Word(w)) => w.clone(),
            _ => "phone".to_string(),
        },
        required_skill: refs(s.get("required_skill")).into_iter().next(),
        staff: (refs(s.get("agents")), refs(s.get("teams"))),
        eligible: None,
        outbound,
        staffed_by: BTreeSet::new(),
        channel_load: channel
            .and_then(|c| int(c.settings.get("max_load")))
            .and_then(|n| u32::try_from(n).ok()),
        channel_wait: channel
            .and_then(|c| duration(c.settings.get("max_wait")))
            .map(|ms| {
                let overflow =
                    channel.and_then(|c| refs(c.settings.get("overflow_queue")).into_iter().next());
                (ms, overflow)
            }),
        private_ms: duration(s.get("private_record")),
        music_on_hold: prompt(program, s.get("music_on_hold")),
        queue_music: prompt(program, s.get("queue_music")),
        sensitive: boolean(s.get("sensitive_data")),
        max_recall_date: match s.get("max_recall_date") {
            Some(BValue::Date(day)) => Some(day.clone()),
            _ => None,
        },
        keep_classifier_on_closed: boolean(s.get("keep_classifier_on_closed")),
        exclude_records_from: refs(s.get("exclude_records_from")),
        supervisors: refs(s.get("supervisors"))
            .iter()
            .map(|a| short(a).to_string())
            .collect(),
        max_unhandled: int(s.get("max_unhandled_per_agent"))
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n > 0),
        unblock_at: int(s.get("unblock_at"))
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0),
        callback_unconnected: match s.get("callback_unconnected") {
            Some(BValue::Word(w)) => w.clone(),
            _ => "per_block".to_string(),
        },
        country_code: match s.get("country_code") {
            Some(BValue::Phone(cc)) => cc.trim_start_matches('+').to_string(),
            _ => "48".to_string(),
        },
        zone: program
            .schedules
            .first()
            .map_or_else(|| "UTC".to_string(), |z| z.zone.clone()),
        ..CampaignInfo::default()
    };
    if let Some(BValue::List(windows)) = s.get("recall_window") {
        for window in windows {
            if let BValue::List(pair) = window
                && let [BValue::Days(days), BValue::TimeRange(from, to)] = pair.as_slice()
            {
                info.recall_windows.push((*days, *from, *to));
            }
        }
    }
    for section in &program.sections {
        match section.kind.as_str() {
            "classifier" => {
                let c = &section.settings;
                let private_to = refs(c.get("private_to"))
                    .first()
                    .map(|a| short(a).to_string());
                let offered_for = match c.get("offered_for") {
                    Some(BValue::List(items)) => items
                        .iter()
                        .filter_map(|v| match v {
                            BValue::Word(w) => Some(w.clone()),
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                let classifier = Classifier {
                    label: text(c.get("label")),
                    recall: boolean(c.get("recall")),
                    closes: boolean(c.get("closes")),
                    success: boolean(c.get("success")),
                    offered_for,
                    recall_after_ms: duration(c.get("recall_after")),
                    max_recall_ms: duration(c.get("max_recall")),
                    move_to: refs(c.get("move_to")).into_iter().next(),
                    blacklist: boolean(c.get("blacklist")),
                    email: text(c.get("email")),
                    sms: text(c.get("sms")),
                    private_to,
                };
                info.classifiers.insert(section.name.clone(), classifier);
            }
            "field" => {
                if boolean(section.settings.get("significant")) && info.significant.is_none() {
                    info.significant = Some(section.name.clone());
                }
                if boolean(section.settings.get("significant"))
                    && boolean(section.settings.get("in_recording_name"))
                {
                    info.recording_field = Some(section.name.clone());
                }
                if boolean(section.settings.get("required")) {
                    info.required.push(section.name.clone());
                }
                info.fields.insert(section.name.clone());
                let kind = match section.settings.get("type") {
                    Some(BValue::Word(w)) => w.clone(),
                    _ => "none".to_string(),
                };
                info.field_specs.insert(
                    section.name.clone(),
                    (kind, boolean(section.settings.get("editable"))),
                );
            }
            "alert" => {
                // The compiler lowers `threshold 20m` to a duration and
                // `threshold 25` to a number; text is read with its unit.
                let value = match section.settings.get("threshold") {
                    Some(BValue::Duration(ms)) => Some(*ms),
                    Some(BValue::Int(n)) => threshold(&section.name, &n.to_string()),
                    Some(BValue::Text(t)) => threshold(&section.name, t),
                    _ => None,
                };
                if let Some(value) = value {
                    info.alerts.push((section.name.clone(), value));
                }
            }
            "variable" => info.variables.push(Variable {
                name: section.name.clone(),
                editable: boolean(section.settings.get("editable")),
                secure: boolean(section.settings.get("secure")),
                default: text(section.settings.get("default")).unwrap_or_default(),
            }),
            _ => {}
        }
    }
    info
}

/// An alert's threshold: `90s`, `5m`, `4h` as milliseconds, or a plain
/// number: minutes for talk time and breaks, seconds for the average wait
/// (as SPEC 3.2 words them), a count otherwise.
fn threshold(kind: &str, text: &str) -> Option<u64> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text, ""),
    };
    let n: u64 = number.parse().ok()?;
    match unit.trim() {
        "" => match kind {
            "talk_time" | "break_over" => n.checked_mul(60_000),
            "avg_wait" => n.checked_mul(1_000),
            _ => Some(n),
        },
        "ms" => Some(n),
        "s" => n.checked_mul(1_000),
        "m" | "min" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        "d" => n.checked_mul(86_400_000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn short_names_drop_the_qualification() {
        assert_eq!(short("common/agents.alice"), "alice");
        assert_eq!(short("alice"), "alice");
    }

    #[test]
    fn thresholds_read_units_and_plain_numbers_by_kind() {
        assert_eq!(threshold("avg_wait", "90s"), Some(90_000));
        assert_eq!(threshold("avg_wait", "90"), Some(90_000));
        assert_eq!(threshold("talk_time", "10"), Some(600_000));
        assert_eq!(threshold("breaks_started", "3"), Some(3));
        assert_eq!(threshold("break_over", "5m"), Some(300_000));
        assert_eq!(threshold("pool_low", "many"), None);
    }
}
