//! Sets of valid flow files for benchmarks.
//!
//! Each file declares its own skills, agents, a team, queues and schedules and
//! one campaign with a deep IVR: menus three levels down with key arms, hours,
//! queues with timeout arms, conditions and switches on rhai expressions, gotos
//! back to the menus, announcements. Names carry the file's number so files
//! never clash, and each campaign has its own number `+48 5xx xxx xxx`. The
//! text follows `docs/language.md`, so that `dialect check` passes it.

use std::io;
use std::path::{Path, PathBuf};

/// A set of generated flow files.
#[derive(Debug)]
pub struct FlowSet {
    /// The directory holding them.
    pub dir: PathBuf,
    /// Every file, in order.
    pub files: Vec<PathBuf>,
    /// The IVR blocks in all of them.
    pub blocks: usize,
    /// Their size in bytes.
    pub bytes: usize,
}

/// Writes `files` flow files of `blocks_per_file` IVR blocks each into `dir`
/// (created, emptied first). The same `seed` gives the same files.
pub fn generate(
    dir: &Path,
    files: usize,
    blocks_per_file: usize,
    seed: u64,
) -> io::Result<FlowSet> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    let mut set = FlowSet {
        dir: dir.to_path_buf(),
        files: Vec::new(),
        blocks: 0,
        bytes: 0,
    };
    for index in 0..files {
        let (text, blocks) = flow_file(index, blocks_per_file, seed);
        let path = dir.join(format!("campaign_{index:04}.flow"));
        std::fs::write(&path, &text)?;
        set.files.push(path);
        set.blocks += blocks;
        set.bytes += text.len();
    }
    Ok(set)
}

/// The text of file number `index`, with about `blocks` IVR blocks (never
/// fewer than the fixed frame of about twenty), and the exact number of blocks.
pub fn flow_file(index: usize, blocks: usize, seed: u64) -> (String, usize) {
    let mut file = Writer {
        text: String::new(),
        rng: Rng::new(seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        blocks: 0,
        labels: 0,
        names: Names::new(index),
    };
    file.declarations(index);
    file.campaign(index, blocks);
    (file.text, file.blocks)
}

/// The names declared by one file.
struct Names {
    queues: [String; 3],
    office: String,
    support: String,
}

impl Names {
    fn new(i: usize) -> Names {
        Names {
            queues: [
                format!("sales_q{i}"),
                format!("support_q{i}"),
                format!("vip_q{i}"),
            ],
            office: format!("office{i}"),
            support: format!("support_hours{i}"),
        }
    }
}

struct Writer {
    text: String,
    rng: Rng,
    /// IVR blocks written so far.
    blocks: usize,
    /// Menu labels handed out so far.
    labels: usize,
    names: Names,
}

const DEPARTMENTS: &[&str] = &[
    "sales",
    "billing",
    "technical support",
    "complaints",
    "new contracts",
    "roaming",
];

/// Conditions over the variables every expression may read, and `vip`/`tier`
/// that the IVR sets first.
const CONDITIONS: &[&str] = &[
    "hour >= 12",
    "weekday >= 6",
    "vip",
    "caller.starts_with(\"+4850\")",
    "priority > 10",
    "minute < 30 && hour < 9",
    "tier == \"gold\"",
    "dialled.ends_with(\"1\")",
];

/// The frame around the main menu: answer, two sets, a condition and its
/// arm, hours and its closed arm.
const FRAME: usize = 9;
/// A menu's own blocks: itself, `hangup` on no input, `goto` itself on invalid
/// input (plus `goto` its parent on 0 for a submenu).
const MENU: usize = 3;
/// Below this many blocks an arm is a sequence rather than a submenu.
const SUBMENU: usize = 14;
/// The blocks of [`Writer::queue`].
const QUEUE: usize = 5;
/// How deep menus nest.
const MAX_LEVEL: usize = 4;

impl Writer {
    fn line(&mut self, depth: usize, text: &str) {
        for _ in 0..if text.is_empty() { 0 } else { depth } {
            self.text.push_str("  ");
        }
        self.text.push_str(text);
        self.text.push('\n');
    }

    /// A block statement: counted.
    fn block(&mut self, depth: usize, text: &str) {
        self.blocks += 1;
        self.line(depth, text);
    }

    fn declarations(&mut self, i: usize) {
        self.line(
            0,
            &format!("// Generated for benchmarks (compiler/benches/gen.rs): file {i}."),
        );
        self.line(0, "");
        self.line(
            0,
            &format!("skill sales{i} {{ description \"New contracts and offers\" }}"),
        );
        self.line(
            0,
            &format!("skill support{i} {{ description \"Faults and repairs\" }}"),
        );
        self.line(0, "");
        for (n, name) in ["Alice", "Bob", "Carol"].iter().enumerate() {
            let skills = if n == 0 {
                format!("sales{i}, support{i}")
            } else {
                format!("support{i}")
            };
            let agent = format!("agent{i}_{n}");
            self.line(0, &format!("agent {agent} {{"));
            self.line(1, &format!("name \"{name} {i}\""));
            self.line(1, &format!("uri \"sip:{agent}@127.0.0.1\""));
            self.line(1, &format!("skills [{skills}]"));
            self.line(0, "}");
            self.line(0, "");
        }
        self.line(
            0,
            &format!("team team{i} {{ members [agent{i}_1, agent{i}_2] }}"),
        );
        self.line(0, "");
        let [sales, support, vip] = self.names.queues.clone();
        self.line(0, &format!("queue {sales} {{"));
        self.line(1, &format!("skill sales{i}"));
        self.line(1, &format!("agents [agent{i}_0]"));
        self.line(1, "max_wait 10m");
        self.line(
            1,
            "music say \"Please hold, a consultant will be with you shortly.\"",
        );
        self.line(0, "}");
        self.line(0, "");
        self.line(0, &format!("queue {support} {{"));
        self.line(1, &format!("teams [team{i}]"));
        self.line(1, "max_wait 5m");
        self.line(1, "announce_every 1m");
        self.line(1, "ring_time 20s");
        self.line(1, "max_size 50");
        self.line(0, "}");
        self.line(0, "");
        self.line(
            0,
            &format!("queue {vip} {{ agents [agent{i}_0, agent{i}_1]; max_wait 2m; priority 20 }}"),
        );
        self.line(0, "");
        let office = self.names.office.clone();
        self.line(0, &format!("schedule {office} {{"));
        self.line(1, "zone \"Europe/Warsaw\"");
        self.line(1, "hours mon-fri 08:00-18:00");
        self.line(1, "hours sat 09:00-13:00");
        self.line(1, "closed 2026-12-24..2026-12-26 \"Christmas\"");
        self.line(1, "open 2026-12-27 10:00-14:00 \"Stocktaking Sunday\"");
        self.line(0, "}");
        self.line(0, "");
        let support = self.names.support.clone();
        self.line(0, &format!("schedule {support} {{"));
        self.line(1, "zone \"Europe/Warsaw\"");
        self.line(1, "hours mon-sun 07:00-22:00");
        self.line(0, "}");
        self.line(0, "");
    }

    fn campaign(&mut self, i: usize, blocks: usize) {
        self.line(0, &format!("campaign campaign{i} {{"));
        self.line(1, &format!("name \"Benchmark campaign {i}\""));
        self.line(1, &format!("id \"B{i}\""));
        self.line(1, &format!("numbers [+485{i:08}]"));
        self.line(1, "country_code +48");
        self.line(1, &format!("priority {}", 1 + i % 100));
        self.line(1, "");
        self.line(1, "ivr {");
        self.block(2, "answer");
        self.block(2, "set vip (caller.starts_with(\"+48501\"))");
        self.block(
            2,
            "set tier (if priority > 10 { \"gold\" } else { \"basic\" })",
        );
        self.block(2, "condition (vip) {");
        self.line(3, "on true {");
        self.block(4, "priority 20");
        self.line(3, "}");
        self.line(3, "on false {}");
        self.line(2, "}");
        let office = self.names.office.clone();
        self.block(2, &format!("hours {office} {{"));
        self.line(3, "on open {");
        let budget = blocks.saturating_sub(FRAME).max(SUBMENU);
        self.menu(4, 1, "main", None, budget);
        self.line(3, "}");
        self.line(3, "on closed {");
        self.block(
            4,
            "say \"We are closed. Please leave a message after the tone.\"",
        );
        self.block(4, "voicemail");
        self.block(4, "hangup");
        self.line(3, "}");
        self.line(2, "}");
        self.line(1, "}");
        self.line(0, "}");
    }

    /// A menu of exactly `budget` blocks (at least `MENU + 2`), labelled `label`.
    fn menu(
        &mut self,
        depth: usize,
        level: usize,
        label: &str,
        parent: Option<&str>,
        budget: usize,
    ) {
        let own = MENU + usize::from(parent.is_some());
        let rest = budget.saturating_sub(own).max(1);
        let arms = (2 + self.rng.below(3)).min(rest);
        let shares = self.split(rest, arms);
        let names: Vec<&str> = (0..arms)
            .map(|n| {
                DEPARTMENTS
                    .get((n + level + self.labels) % DEPARTMENTS.len())
                    .copied()
            })
            .map(|d| d.unwrap_or("sales"))
            .collect();
        let prompt: Vec<String> = names
            .iter()
            .enumerate()
            .map(|(n, d)| format!("{d}: press {}", n + 1))
            .collect();
        self.block(
            depth,
            &format!("{label}: menu say \"{}.\" {{", prompt.join(", ")),
        );
        self.line(depth + 1, "timeout 5s");
        self.line(depth + 1, "retries 2");
        for (n, share) in shares.into_iter().enumerate() {
            self.line(depth + 1, &format!("on {} {{", n + 1));
            self.arm(depth + 2, level, label, share);
            self.line(depth + 1, "}");
        }
        if let Some(parent) = parent {
            self.line(depth + 1, "on 0 {");
            self.block(depth + 2, &format!("goto {parent}"));
            self.line(depth + 1, "}");
        }
        self.line(depth + 1, "on no_input {");
        self.block(depth + 2, "hangup");
        self.line(depth + 1, "}");
        self.line(depth + 1, "on invalid {");
        self.block(depth + 2, &format!("goto {label}"));
        self.line(depth + 1, "}");
        self.line(depth, "}");
    }

    /// The blocks of a menu's key arm: a submenu or a sequence, `budget` blocks.
    fn arm(&mut self, depth: usize, level: usize, parent: &str, budget: usize) {
        if budget >= SUBMENU && level < MAX_LEVEL {
            self.labels += 1;
            let label = format!("menu{}", self.labels);
            self.menu(depth, level + 1, &label, Some(parent), budget);
        } else {
            self.sequence(depth, budget);
        }
    }

    /// Exactly `budget` blocks in a row, ending with a queue when there is room.
    fn sequence(&mut self, depth: usize, budget: usize) {
        let queue = budget >= QUEUE;
        let mut left = if queue { budget - QUEUE } else { budget };
        while left > 0 {
            let before = self.blocks;
            if left >= 8 && self.rng.below(2) == 0 {
                self.switch(depth);
            } else if left >= 7 && self.rng.below(2) == 0 {
                self.condition(depth);
            } else if left >= 6 && self.rng.below(2) == 0 {
                self.dial(depth);
            } else if left >= 3 && self.rng.below(2) == 0 {
                self.hours(depth);
            } else {
                self.single(depth);
            }
            left = left.saturating_sub(self.blocks - before);
        }
        if queue {
            self.queue(depth);
        }
    }

    /// 5 blocks: an announcement and a queue with its arms.
    fn queue(&mut self, depth: usize) {
        let queue = self.pick_queue();
        self.block(depth, "say \"Connecting you to a consultant.\"");
        self.block(depth, &format!("queue {queue} {{"));
        if self.rng.below(2) == 0 {
            self.line(depth + 1, "max_wait 3m");
        }
        self.line(depth + 1, "on timeout {");
        self.block(depth + 2, "voicemail");
        self.line(depth + 1, "}");
        self.line(depth + 1, "on full {");
        self.block(
            depth + 2,
            "say \"All our lines are busy. Please call again later.\"",
        );
        self.block(depth + 2, "hangup");
        self.line(depth + 1, "}");
        self.line(depth, "}");
    }

    /// 7 blocks: a condition whose arms raise the priority or queue.
    fn condition(&mut self, depth: usize) {
        let condition = CONDITIONS
            .get(self.rng.below(CONDITIONS.len()))
            .copied()
            .unwrap_or("vip");
        self.block(depth, &format!("condition ({condition}) {{"));
        self.line(depth + 1, "on true {");
        self.block(depth + 2, "priority 15");
        self.line(depth + 1, "}");
        self.line(depth + 1, "on false {");
        self.queue(depth + 2);
        self.line(depth + 1, "}");
        self.line(depth, "}");
    }

    /// 8 blocks: a switch on the tier set at the start.
    fn switch(&mut self, depth: usize) {
        let [_, _, vip] = self.names.queues.clone();
        self.block(depth, "switch (tier) {");
        self.line(depth + 1, "on \"gold\" {");
        self.block(depth + 2, &format!("queue {vip} {{"));
        self.line(depth + 3, "on timeout {}");
        self.line(depth + 3, "on full {}");
        self.line(depth + 2, "}");
        self.line(depth + 1, "}");
        self.line(depth + 1, "on \"basic\" {");
        self.block(depth + 2, "priority -5");
        self.line(depth + 1, "}");
        self.line(depth + 1, "on else {");
        self.queue(depth + 2);
        self.line(depth + 1, "}");
        self.line(depth, "}");
    }

    /// 6 blocks: forward to an external number, voicemail if nobody answers.
    fn dial(&mut self, depth: usize) {
        let number = 100 + self.rng.below(900);
        self.block(depth, &format!("dial +48221000{number} {{"));
        self.line(depth + 1, "timeout 30s");
        self.line(depth + 1, "on busy {");
        self.block(depth + 2, "hangup");
        self.line(depth + 1, "}");
        self.line(depth + 1, "on no_answer {");
        self.block(depth + 2, "voicemail");
        self.line(depth + 1, "}");
        self.line(depth + 1, "on failed {");
        self.block(depth + 2, "say \"We could not connect you.\"");
        self.block(depth + 2, "hangup");
        self.line(depth + 1, "}");
        self.line(depth, "}");
        self.block(depth, "no_survey");
    }

    /// 3 blocks: support hours change the priority.
    fn hours(&mut self, depth: usize) {
        let support = self.names.support.clone();
        self.block(depth, &format!("hours {support} {{"));
        self.line(depth + 1, "on open {");
        self.block(depth + 2, "priority 5");
        self.line(depth + 1, "}");
        self.line(depth + 1, "on closed {");
        self.block(depth + 2, "priority -5");
        self.line(depth + 1, "}");
        self.line(depth, "}");
    }

    /// 1 block: an announcement, a priority change or a callback request.
    fn single(&mut self, depth: usize) {
        match self.rng.below(4) {
            0 => self.block(depth, "say \"Calls are recorded for quality purposes.\""),
            1 => self.block(depth, "priority 3"),
            2 => {
                let queue = self.pick_queue();
                self.block(depth, "callback {");
                self.line(depth + 1, &format!("queue {queue}"));
                self.line(
                    depth + 1,
                    "prompt say \"We will call you back within two hours.\"",
                );
                self.line(depth + 1, "delay 2h");
                self.line(depth, "}");
            }
            _ => self.block(depth, "say \"Thank you for calling.\""),
        }
    }

    fn pick_queue(&mut self) -> String {
        let n = self.rng.below(2);
        self.names.queues.get(n).cloned().unwrap_or_default()
    }

    /// `total` split into `parts` shares of at least one, roughly equal.
    fn split(&mut self, total: usize, parts: usize) -> Vec<usize> {
        let parts = parts.max(1);
        let mut shares = vec![total / parts; parts];
        for share in shares.iter_mut().take(total % parts) {
            *share += 1;
        }
        // Move a little from one arm to another so that trees differ.
        if parts > 1 {
            let from = self.rng.below(parts);
            let to = (from + 1) % parts;
            let moved = shares.get(from).map_or(0, |s| s.saturating_sub(1) / 3);
            if let Some(s) = shares.get_mut(from) {
                *s -= moved;
            }
            if let Some(s) = shares.get_mut(to) {
                *s += moved;
            }
        }
        shares
    }
}

/// xorshift64*: a small seeded generator, so that runs are comparable.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}
