//! Phase 5: a checked campaign to its bytecode graph. Blocks become nodes in
//! source order (sub-flows inlined where they are used), exits become edges:
//! an arm's blocks, the next statement for continuation exits and empty arms,
//! a label for `goto`, and an implicit `hangup` at the end of the IVR.
//! Values are read with `check::convert`, the same reading `check` verified.

use crate::ast::{Span, Stmt, Value};
use crate::check::{self, Env, Lit, Param, Reader, campaign_country_code, convert};
use crate::resolve::DeclRef;
use crate::schema::{self, Arg, Block, ExitMode, Kind, Setting, Ty};
use crate::source::FileId;
use crate::{Problem, Report};
use dialect_bytecode::{
    Exception, Node, NodeId, Op, Origin, Program, Prompt, Schedule, Section, Settings,
    Value as BValue,
};
use std::collections::{BTreeMap, HashMap};

/// A lowered campaign and, for each of its `sources`, the compiler's file id.
#[derive(Clone, Debug)]
pub struct Lowered {
    /// The graph.
    pub program: Program,
    /// `files[i]` is the file of `program.sources[i]`.
    pub files: Vec<FileId>,
}

const HOLE: NodeId = NodeId::MAX;

/// Lowers the campaign declared at `campaign`.
pub fn lower(read: &Reader<'_>, campaign: DeclRef, reports: &mut Vec<Report>) -> Option<Lowered> {
    let stmt = read
        .sources
        .get(campaign.file)?
        .ast
        .items
        .get(campaign.index)?;
    let name = stmt.args.first().and_then(Value::as_ident)?.name.clone();
    let mut lowerer = Lowerer {
        read,
        campaign,
        reports,
        program: Program {
            name,
            settings: Settings::new(),
            numbers: Vec::new(),
            sections: Vec::new(),
            decls: Vec::new(),
            schedules: Vec::new(),
            prompts: Vec::new(),
            exprs: Vec::new(),
            sources: Vec::new(),
            nodes: Vec::new(),
            entry: 0,
            assets: Vec::new(),
        },
        files: Vec::new(),
        prompts: HashMap::new(),
        exprs: HashMap::new(),
        decls: BTreeMap::new(),
        pending: Vec::new(),
        schedules: HashMap::new(),
        scopes: Vec::new(),
        flows: Vec::new(),
        lines: HashMap::new(),
    };
    lowerer.campaign(stmt);
    Some(Lowered {
        program: lowerer.program,
        files: lowerer.files,
    })
}

struct Lowerer<'a, 'r> {
    read: &'r Reader<'a>,
    campaign: DeclRef,
    reports: &'r mut Vec<Report>,
    program: Program,
    files: Vec<FileId>,
    prompts: HashMap<Prompt, u32>,
    exprs: HashMap<String, u32>,
    /// Declarations included, by reference, with their qualified names.
    decls: BTreeMap<DeclRef, String>,
    pending: Vec<DeclRef>,
    schedules: HashMap<DeclRef, u32>,
    /// Labels and jumps of the campaign and of each inlined sub-flow.
    scopes: Vec<LabelScope>,
    /// Sub-flows being inlined, to refuse recursion.
    flows: Vec<DeclRef>,
    /// Line starts of each file, computed once, so that numbering the lines
    /// of a file's nodes stays linear in its size.
    lines: HashMap<FileId, Vec<u32>>,
}

/// The labels of one campaign IVR or inlined sub-flow, and its jumps to patch.
type LabelScope = (HashMap<String, NodeId>, Vec<(NodeId, String)>);

struct Frag {
    entry: Option<NodeId>,
    holes: Vec<(NodeId, usize)>,
}

fn index(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl<'a> Lowerer<'a, '_> {
    fn campaign(&mut self, stmt: &'a Stmt) {
        let cc = campaign_country_code(self.read, stmt);
        let env = Env::new(self.campaign.file, &cc);
        let Some(spec) = schema::decl("campaign") else {
            return;
        };
        self.program.settings = self.settings(spec.settings, stmt, &env);
        if let Some(BValue::List(numbers)) = self.program.settings.get("numbers") {
            self.program.numbers = numbers
                .iter()
                .filter_map(|n| match n {
                    BValue::Phone(p) => Some(p.clone()),
                    _ => None,
                })
                .collect();
        }
        for child in stmt.children() {
            let word = child.head.name.as_str();
            if word == "ivr" || !spec.sections.contains(&word) {
                continue;
            }
            let Some(section) = schema::decl(word) else {
                continue;
            };
            let settings = match word {
                "alert" => {
                    // The threshold's type depends on the alert's kind.
                    let mut settings = Settings::new();
                    let ty = child
                        .args
                        .first()
                        .and_then(Value::as_ident)
                        .and_then(|kind| schema::ALERTS.iter().find(|(n, _, _)| *n == kind.name))
                        .map(|(_, ty, _)| *ty);
                    if let Some(threshold) =
                        child.children().iter().find(|c| c.head.name == "threshold")
                        && let Some(ty) = ty
                    {
                        let value = match convert(self.read, &env, ty, &threshold.args, None) {
                            Ok(Lit::Duration(ms)) => BValue::Duration(ms),
                            Ok(Lit::Int(n)) => BValue::Int(n),
                            _ => BValue::Int(0),
                        };
                        settings.insert("threshold".into(), value);
                    }
                    settings
                }
                _ => self.settings(section.settings, child, &env),
            };
            let name = child
                .args
                .first()
                .and_then(Value::as_ident)
                .map(|i| i.name.clone())
                .unwrap_or_default();
            self.program.sections.push(Section {
                kind: word.to_string(),
                name,
                settings,
            });
        }
        if let Some(ivr) = stmt.children().iter().find(|c| c.head.name == "ivr") {
            self.scopes.push((HashMap::new(), Vec::new()));
            let frag = self.seq(ivr.children(), &env);
            self.close_scope();
            let entry = match (frag.entry, frag.holes.is_empty()) {
                (Some(entry), true) => entry,
                (entry, _) => {
                    let end = self.node(
                        Op::Hangup {
                            reason: Some("end of IVR".into()),
                        },
                        ivr,
                        self.campaign.file,
                        Vec::new(),
                    );
                    self.patch(&frag.holes, end);
                    entry.unwrap_or(end)
                }
            };
            self.program.entry = entry;
        }
        while let Some(decl) = self.pending.pop() {
            self.decl(decl, &cc);
        }
        self.program
            .decls
            .sort_by(|a, b| (&a.kind, &a.name).cmp(&(&b.kind, &b.name)));
    }

    fn report(&mut self, file: FileId, error: check::Error) {
        self.reports.push(Report {
            file,
            problem: Problem::Check(error),
        });
    }

    /// The settings of a statement's body as bytecode values.
    fn settings(
        &mut self,
        settings: &'static [Setting],
        stmt: &'a Stmt,
        env: &Env<'a>,
    ) -> Settings {
        let mut out = Settings::new();
        for child in stmt.children() {
            let Some(setting) = settings.iter().find(|s| s.name == child.head.name) else {
                continue;
            };
            let Some(value) = self.args(setting.args, &child.args, env) else {
                continue;
            };
            if setting.repeat {
                match out
                    .entry(setting.name.to_string())
                    .or_insert_with(|| BValue::List(Vec::new()))
                {
                    BValue::List(items) => items.push(value),
                    other => *other = BValue::List(vec![value]),
                }
            } else {
                out.insert(setting.name.to_string(), value);
            }
        }
        out
    }

    /// The arguments of one setting: one value, or a list for several.
    fn args(&mut self, args: &[Arg], values: &'a [Value], env: &Env<'a>) -> Option<BValue> {
        let groups = check::group_args(args, values, env)?;
        let mut out = Vec::new();
        for (arg, group) in args.iter().zip(groups) {
            let lit = convert(self.read, env, arg.ty, group, None).ok()?;
            out.push(self.value(lit));
        }
        if out.len() == 1 {
            out.pop()
        } else {
            Some(BValue::List(out))
        }
    }

    fn value(&mut self, lit: Lit) -> BValue {
        match lit {
            Lit::Bool(b) => BValue::Bool(b),
            Lit::Int(n) => BValue::Int(n),
            Lit::Decimal(d) => BValue::Decimal(d),
            Lit::Text(t) | Lit::Zone(t) | Lit::File(t) => BValue::Text(t),
            Lit::Word(w) | Lit::Var(w) => BValue::Word(w),
            Lit::Duration(ms) => BValue::Duration(ms),
            Lit::TimeRange(a, b) => BValue::TimeRange(a, b),
            Lit::Days(d) => BValue::Days(d),
            Lit::Date(d) => BValue::Date(d.to_string()),
            Lit::DateRange(a, b) => BValue::DateRange(a.to_string(), b.to_string()),
            Lit::Percent(p) => BValue::Percent(p),
            Lit::Phone(p) => BValue::Phone(p),
            Lit::Prompt(p) => BValue::Prompt(self.prompt(p)),
            Lit::Expr(src) => BValue::Expr(self.expr(src)),
            Lit::Ref(kind, decl) => BValue::Ref(kind.keyword().into(), self.reference(kind, decl)),
            Lit::Label(name, _) => BValue::Word(name),
            Lit::List(items) => BValue::List(items.into_iter().map(|l| self.value(l)).collect()),
            Lit::Param => BValue::List(Vec::new()),
        }
    }

    fn prompt(&mut self, prompt: Prompt) -> u32 {
        if let Some(i) = self.prompts.get(&prompt) {
            return *i;
        }
        let i = index(self.program.prompts.len());
        self.program.prompts.push(prompt.clone());
        self.prompts.insert(prompt, i);
        i
    }

    fn expr(&mut self, src: String) -> u32 {
        let src = src.trim().to_string();
        if let Some(i) = self.exprs.get(&src) {
            return *i;
        }
        let i = index(self.program.exprs.len());
        self.program.exprs.push(src.clone());
        self.exprs.insert(src, i);
        i
    }

    /// The qualified name of a declaration, queued for inclusion.
    fn reference(&mut self, kind: Kind, decl: DeclRef) -> String {
        if let Some(name) = self.decls.get(&decl) {
            return name.clone();
        }
        let src = self.read.sources.get(decl.file);
        let name = src
            .and_then(|f| f.ast.items.get(decl.index))
            .and_then(|s| s.args.first())
            .and_then(Value::as_ident)
            .map(|i| i.name.clone())
            .unwrap_or_default();
        let qualified = match (kind, src) {
            (Kind::Campaign, _) => name,
            (_, Some(file)) if decl.file != self.campaign.file => {
                format!(
                    "{}.{name}",
                    file.name.strip_suffix(".flow").unwrap_or(&file.name)
                )
            }
            _ => name,
        };
        self.decls.insert(decl, qualified.clone());
        if !matches!(kind, Kind::Campaign | Kind::Flow) {
            self.pending.push(decl);
        }
        qualified
    }

    fn decl(&mut self, decl: DeclRef, cc: &str) {
        let Some(stmt) = self.read.sources.stmt(decl) else {
            return;
        };
        let Some(spec) = schema::decl(&stmt.head.name) else {
            return;
        };
        let env = Env::new(decl.file, cc);
        let name = self.decls.get(&decl).cloned().unwrap_or_default();
        let settings = self.settings(spec.settings, stmt, &env);
        for child in stmt.children() {
            if let Some(section) = schema::decl(&child.head.name)
                .filter(|_| spec.sections.contains(&child.head.name.as_str()))
            {
                let child_name = child
                    .args
                    .first()
                    .and_then(Value::as_ident)
                    .map(|i| i.name.clone())
                    .unwrap_or_default();
                let settings = self.settings(section.settings, child, &env);
                self.program.decls.push(Section {
                    kind: section.name.into(),
                    name: format!("{name}/{child_name}"),
                    settings,
                });
            }
        }
        if spec.name == "schedule" {
            self.schedule(decl, &name, &settings);
        }
        self.program.decls.push(Section {
            kind: spec.name.into(),
            name,
            settings,
        });
    }

    fn schedule(&mut self, decl: DeclRef, name: &str, settings: &Settings) -> u32 {
        if let Some(i) = self.schedules.get(&decl) {
            return *i;
        }
        let zone = match settings.get("zone") {
            Some(BValue::Text(z)) => z.clone(),
            _ => String::new(),
        };
        let occurrences = |key: &str| match settings.get(key) {
            Some(BValue::List(items)) => items.clone(),
            _ => Vec::new(),
        };
        let parts = |v: &BValue| match v {
            BValue::List(items) => items.clone(),
            other => vec![other.clone()],
        };
        let mut weekly = Vec::new();
        for occurrence in occurrences("hours") {
            if let [BValue::Days(d), BValue::TimeRange(a, b)] = parts(&occurrence).as_slice() {
                weekly.push((*d, *a, *b));
            }
        }
        let reason = |items: &[BValue], at: usize| match items.get(at) {
            Some(BValue::Text(t)) => Some(t.clone()),
            _ => None,
        };
        let mut exceptions = Vec::new();
        for occurrence in occurrences("closed") {
            let items = parts(&occurrence);
            let (from, to) = match items.first() {
                Some(BValue::Date(d)) => (d.clone(), d.clone()),
                Some(BValue::DateRange(a, b)) => (a.clone(), b.clone()),
                _ => continue,
            };
            exceptions.push(Exception::Closed {
                from,
                to,
                reason: reason(&items, 1),
            });
        }
        for occurrence in occurrences("open") {
            let items = parts(&occurrence);
            if let (Some(BValue::Date(date)), Some(BValue::TimeRange(start, end))) =
                (items.first(), items.get(1))
            {
                exceptions.push(Exception::Open {
                    date: date.clone(),
                    start: *start,
                    end: *end,
                    reason: reason(&items, 2),
                });
            }
        }
        let i = index(self.program.schedules.len());
        self.program.schedules.push(Schedule {
            name: name.to_string(),
            zone,
            weekly,
            exceptions,
        });
        self.schedules.insert(decl, i);
        i
    }

    fn source(&mut self, file: FileId) -> u32 {
        if let Some(i) = self.files.iter().position(|f| *f == file) {
            return index(i);
        }
        let name = self
            .read
            .sources
            .get(file)
            .map(|f| f.name.clone())
            .unwrap_or_default();
        self.program.sources.push(name);
        self.files.push(file);
        index(self.files.len() - 1)
    }

    /// The 1-based line of a byte offset in a file.
    fn line(&mut self, file: FileId, offset: u32) -> u32 {
        let text = self
            .read
            .sources
            .get(file)
            .map(|f| f.text.as_str())
            .unwrap_or("");
        let starts = self.lines.entry(file).or_insert_with(|| {
            std::iter::once(0)
                .chain(text.match_indices('\n').map(|(i, _)| index(i + 1)))
                .collect()
        });
        index(starts.partition_point(|start| *start <= offset))
    }

    fn node(&mut self, op: Op, stmt: &Stmt, file: FileId, exits: Vec<String>) -> NodeId {
        let span: Span = stmt.head_span();
        let line = self.line(file, span.start);
        let origin = Origin {
            file: self.source(file),
            start: span.start,
            end: span.end,
            line,
            label: stmt.label.as_ref().map(|l| l.name.clone()),
        };
        let id = index(self.program.nodes.len());
        self.program.nodes.push(Node {
            op,
            exits: exits.into_iter().map(|e| (e, HOLE)).collect(),
            origin,
        });
        if let (Some(label), Some(scope)) = (&stmt.label, self.scopes.last_mut()) {
            scope.0.insert(label.name.clone(), id);
        }
        id
    }

    fn patch(&mut self, holes: &[(NodeId, usize)], target: NodeId) {
        for (node, exit) in holes {
            if let Some(slot) = self
                .program
                .nodes
                .get_mut(*node as usize)
                .and_then(|n| n.exits.get_mut(*exit))
            {
                slot.1 = target;
            }
        }
    }

    fn close_scope(&mut self) {
        let Some((labels, gotos)) = self.scopes.pop() else {
            return;
        };
        for (node, label) in gotos {
            if let Some(target) = labels.get(&label) {
                self.patch(&[(node, 0)], *target);
            }
        }
    }

    fn seq(&mut self, stmts: &'a [Stmt], env: &Env<'a>) -> Frag {
        let mut entry = None;
        let mut pending: Vec<(NodeId, usize)> = Vec::new();
        for stmt in stmts {
            let frag = self.block(stmt, env);
            match frag.entry {
                Some(e) => {
                    self.patch(&pending, e);
                    pending = frag.holes;
                    entry = entry.or(Some(e));
                }
                None => pending.extend(frag.holes),
            }
        }
        Frag {
            entry,
            holes: pending,
        }
    }

    fn block(&mut self, stmt: &'a Stmt, env: &Env<'a>) -> Frag {
        let Some(spec) = schema::block(&stmt.head.name) else {
            return Frag {
                entry: None,
                holes: Vec::new(),
            };
        };
        if spec.name == "use" {
            return self.inline(stmt, env);
        }
        let arms: Vec<(String, &'a Stmt)> = stmt
            .children()
            .iter()
            .filter(|c| c.head.name == "on")
            .filter_map(|c| Some((arm_name(c.args.first()?)?, c)))
            .collect();
        let exits = exit_names(spec, &arms);
        let op = self.op(spec, stmt, env);
        let id = self.node(op, stmt, env.file, exits.clone());
        match spec.name {
            "goto" => {
                if let (Some(label), Some(scope)) = (
                    stmt.args.first().and_then(Value::as_ident),
                    self.scopes.last_mut(),
                ) {
                    scope.1.push((id, label.name.clone()));
                }
                return Frag {
                    entry: Some(id),
                    holes: Vec::new(),
                };
            }
            "hangup" => {
                return Frag {
                    entry: Some(id),
                    holes: Vec::new(),
                };
            }
            _ => {}
        }
        let mut holes = Vec::new();
        let else_arm = arms.iter().find(|(n, _)| n == "else").map(|(_, s)| *s);
        let mut else_entry: Option<Option<NodeId>> = None;
        for (i, exit) in exits.iter().enumerate() {
            if let Some((_, arm)) = arms.iter().find(|(n, _)| n == exit) {
                let frag = self.seq(arm.children(), env);
                match frag.entry {
                    Some(e) => self.patch(&[(id, i)], e),
                    None => holes.push((id, i)),
                }
                holes.extend(frag.holes);
            } else if Some(exit.as_str()) == spec.next {
                holes.push((id, i));
            } else if let Some(arm) = else_arm {
                let entry = match else_entry {
                    Some(entry) => entry,
                    None => {
                        let frag = self.seq(arm.children(), env);
                        holes.extend(frag.holes);
                        else_entry = Some(frag.entry);
                        frag.entry
                    }
                };
                match entry {
                    Some(e) => self.patch(&[(id, i)], e),
                    None => holes.push((id, i)),
                }
            } else {
                holes.push((id, i));
            }
        }
        Frag {
            entry: Some(id),
            holes,
        }
    }

    fn inline(&mut self, stmt: &'a Stmt, env: &Env<'a>) -> Frag {
        let empty = Frag {
            entry: None,
            holes: Vec::new(),
        };
        let Ok(Lit::Ref(_, flow)) = convert(self.read, env, Ty::Ref(Kind::Flow), &stmt.args, None)
        else {
            return empty;
        };
        let Some(decl) = self.read.sources.stmt(flow) else {
            return empty;
        };
        if self.flows.contains(&flow) {
            let name = decl
                .args
                .first()
                .and_then(Value::as_path)
                .unwrap_or_default();
            self.report(
                env.file,
                check::Error::FlowRecursion {
                    span: stmt.head.span,
                    flow: name,
                },
            );
            return empty;
        }
        let mut inner = Env::new(flow.file, &env.country_code);
        for param in &decl.params {
            if let Some(arg) = stmt
                .children()
                .iter()
                .find(|c| c.head.name == param.name.name)
            {
                inner.params.insert(
                    param.name.name.clone(),
                    Param::Bound(&arg.args, Box::new(env.clone())),
                );
            }
        }
        self.flows.push(flow);
        self.scopes.push((HashMap::new(), Vec::new()));
        let frag = self.seq(decl.children(), &inner);
        self.close_scope();
        self.flows.pop();
        frag
    }

    /// The settings of a block as typed literals, by name.
    fn block_settings(
        &mut self,
        spec: &'static Block,
        stmt: &'a Stmt,
        env: &Env<'a>,
    ) -> HashMap<&'static str, Lit> {
        let mut out = HashMap::new();
        for child in stmt.children() {
            let Some(setting) = spec.setting(&child.head.name) else {
                continue;
            };
            let Some(groups) = check::group_args(setting.args, &child.args, env) else {
                continue;
            };
            if let (Some(arg), Some(group)) = (setting.args.first(), groups.first())
                && let Ok(lit) = convert(self.read, env, arg.ty, group, None)
            {
                out.insert(setting.name, lit);
            }
        }
        out
    }

    fn op(&mut self, spec: &'static Block, stmt: &'a Stmt, env: &Env<'a>) -> Op {
        let mut args: Vec<Lit> = Vec::new();
        if let Some(groups) = check::group_args(spec.args, &stmt.args, env) {
            for (arg, group) in spec.args.iter().zip(groups) {
                if let Ok(lit) = convert(self.read, env, arg.ty, group, None) {
                    args.push(lit);
                }
            }
        }
        let mut s = self.block_settings(spec, stmt, env);
        let prompt = |this: &mut Self, lit: Option<Lit>| match lit {
            Some(Lit::Prompt(p)) => Some(this.prompt(p)),
            _ => None,
        };
        let ms = |lit: Option<Lit>, default: u64| match lit {
            Some(Lit::Duration(ms)) => ms,
            _ => default,
        };
        let int = |lit: Option<Lit>, default: u32| match lit {
            Some(Lit::Int(n)) => u32::try_from(n).unwrap_or(default),
            _ => default,
        };
        let text = |lit: Option<Lit>| match lit {
            Some(Lit::Text(t) | Lit::Word(t) | Lit::Var(t)) => Some(t),
            _ => None,
        };
        let first = args.first().cloned();
        match spec.name {
            "answer" => Op::Answer,
            "say" => {
                let text = text(first).unwrap_or_default();
                let language = match s.remove("language") {
                    Some(Lit::Text(l)) => Some(l),
                    _ => None,
                };
                // A voice is espeak-ng's variant of the language's voice:
                // `-v pl+f3` (English when no language is given).
                let language = match (s.remove("voice"), language) {
                    (Some(Lit::Text(voice)), language) => {
                        Some(format!("{}+{voice}", language.as_deref().unwrap_or("en")))
                    }
                    (_, language) => language,
                };
                Op::Play {
                    prompt: self.prompt(Prompt::Say { text, language }),
                }
            }
            "play" => match first {
                Some(Lit::File(path)) => Op::Play {
                    prompt: self.prompt(Prompt::Play { path }),
                },
                _ => Op::Play { prompt: 0 },
            },
            "menu" => {
                let given = s.remove("prompt").or(first);
                Op::Menu {
                    prompt: prompt(self, given),
                    timeout_ms: ms(s.remove("timeout"), 5_000),
                    retries: int(s.remove("retries"), 2),
                    invalid_prompt: prompt(self, s.remove("invalid_prompt")),
                    no_input_prompt: prompt(self, s.remove("no_input_prompt")),
                }
            }
            "extension" => Op::Extension {
                prompt: prompt(self, s.remove("prompt")),
                digits: int(s.remove("digits"), 4),
                timeout_ms: ms(s.remove("timeout"), 5_000),
                retries: int(s.remove("retries"), 2),
            },
            "hours" => match first {
                Some(Lit::Ref(kind, decl)) => {
                    let name = self.reference(kind, decl);
                    // Lower the schedule now so that its index is known.
                    let cc = env.country_code.clone();
                    if let Some(pos) = self.pending.iter().position(|d| *d == decl) {
                        self.pending.remove(pos);
                        self.decl(decl, &cc);
                    }
                    let _ = name;
                    Op::Hours {
                        schedule: self.schedules.get(&decl).copied().unwrap_or(0),
                    }
                }
                _ => Op::Hours { schedule: 0 },
            },
            "route_caller" | "route_dialled" => {
                let patterns = match first {
                    Some(Lit::List(items)) => items
                        .into_iter()
                        .filter_map(|l| match l {
                            Lit::Phone(p) => Some(p),
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                if spec.name == "route_caller" {
                    Op::RouteCaller { patterns }
                } else {
                    Op::RouteDialled { patterns }
                }
            }
            "route_identified" => Op::RouteIdentified,
            "authorise" => Op::Authorise {
                source: text(s.remove("source"))
                    .or_else(|| self.campaign_word("authorisation"))
                    .unwrap_or_else(|| "internal".into()),
                url: text(s.remove("url")),
                prompt: prompt(self, s.remove("prompt")),
                timeout_ms: ms(s.remove("timeout"), 5_000),
            },
            "ticket" => Op::Ticket {
                prompt: prompt(self, s.remove("prompt")),
                digits: int(s.remove("digits"), 8),
                timeout_ms: ms(s.remove("timeout"), 5_000),
            },
            "api_login" => Op::ApiLogin {
                url: text(s.remove("url")).unwrap_or_default(),
                user: text(s.remove("user")),
                secret: text(s.remove("secret")),
                timeout_ms: ms(s.remove("timeout"), 5_000),
            },
            "api_request" => {
                let body = match s.remove("body") {
                    Some(Lit::Expr(src)) => Some(self.expr(src)),
                    _ => None,
                };
                Op::ApiRequest {
                    url: text(s.remove("url")).unwrap_or_default(),
                    method: text(s.remove("method")).unwrap_or_else(|| "get".into()),
                    body,
                    into: text(s.remove("into")).unwrap_or_else(|| "api".into()),
                    timeout_ms: ms(s.remove("timeout"), 5_000),
                }
            }
            "condition" | "switch" => {
                let expr = match first {
                    Some(Lit::Expr(src)) => self.expr(src),
                    _ => 0,
                };
                if spec.name == "condition" {
                    Op::Condition { expr }
                } else {
                    Op::Switch { expr }
                }
            }
            "set" => {
                let var = text(first).unwrap_or_default();
                let expr = match args.get(1).cloned() {
                    Some(Lit::Expr(src)) => self.expr(src),
                    _ => 0,
                };
                Op::Set { var, expr }
            }
            "queue" => {
                let (queue, queue_wait, entry) = match first {
                    Some(Lit::Ref(kind, decl)) => {
                        let wait = self.queue_wait(decl, &env.country_code);
                        // The queue's own entry prompt, unless the block
                        // has one.
                        let entry = self.decl_lit(decl, "entry_prompt", &env.country_code);
                        (self.reference(kind, decl), Some(wait), entry)
                    }
                    _ => (String::new(), None, None),
                };
                let max_wait_ms = match s.remove("max_wait") {
                    Some(Lit::Duration(ms)) => ms,
                    _ => queue_wait.unwrap_or(30 * 60_000),
                };
                Op::Queue {
                    queue,
                    max_wait_ms,
                    entry_prompt: prompt(self, s.remove("entry_prompt").or(entry)),
                    announce_every_ms: match s.remove("announce_every") {
                        Some(Lit::Duration(ms)) => Some(ms),
                        _ => None,
                    },
                }
            }
            "priority" => Op::Priority {
                delta: match first {
                    Some(Lit::Int(n)) => i32::try_from(n).unwrap_or(0),
                    _ => 0,
                },
            },
            "overflow" => Op::Overflow {
                limit: int(first, 1),
            },
            "dial" => Op::Dial {
                number: match first {
                    Some(Lit::Phone(p)) => p,
                    _ => String::new(),
                },
                timeout_ms: ms(s.remove("timeout"), 30_000),
                caller_id: match s.remove("caller_id") {
                    Some(Lit::Phone(p)) => Some(p),
                    _ => None,
                },
            },
            "voicemail" => Op::Voicemail {
                greeting: prompt(self, s.remove("greeting")),
                without_announcement: matches!(
                    s.remove("without_announcement"),
                    Some(Lit::Bool(true))
                ),
                email: text(s.remove("email")),
                max_length_ms: ms(s.remove("max_length"), 120_000),
            },
            "callback" => Op::Callback {
                queue: match s.remove("queue") {
                    Some(Lit::Ref(kind, decl)) => Some(self.reference(kind, decl)),
                    _ => None,
                },
                prompt: prompt(self, s.remove("prompt")),
                delay_ms: ms(s.remove("delay"), 0),
                reason: text(s.remove("reason")),
            },
            "no_record_window" => Op::NoRecordWindow,
            "no_survey" => Op::NoSurvey,
            "bot" => Op::Bot {
                bot: match first {
                    Some(Lit::Ref(kind, decl)) => self.reference(kind, decl),
                    _ => String::new(),
                },
                max_turns: int(s.remove("max_turns"), 20),
                timeout_ms: ms(s.remove("timeout"), 10_000),
            },
            "goto" => Op::Jump,
            _ => Op::Hangup {
                reason: text(s.remove("reason")),
            },
        }
    }

    fn campaign_word(&self, setting: &str) -> Option<String> {
        match self.program.settings.get(setting) {
            Some(BValue::Word(w)) => Some(w.clone()),
            _ => None,
        }
    }

    /// How long a call may wait for a queue: its max wait (default 30
    /// minutes) plus, when it overflows into another queue, that queue's
    /// wait, and so on (a cycle ends the chain). The runtime's ACD moves the
    /// call along the chain; the block's timeout exit comes at the end.
    fn queue_wait(&self, decl: DeclRef, cc: &str) -> u64 {
        let mut total = 0u64;
        let mut seen = Vec::new();
        let mut at = Some(decl);
        while let Some(queue) = at.take() {
            if seen.contains(&queue) {
                break;
            }
            seen.push(queue);
            total = total.saturating_add(
                self.decl_duration(queue, "max_wait", cc)
                    .unwrap_or(30 * 60_000),
            );
            let overflow = self.read.sources.stmt(queue).and_then(|stmt| {
                stmt.children()
                    .iter()
                    .find(|c| c.head.name == "overflow_queue")
            });
            if let Some(child) = overflow {
                let env = Env::new(queue.file, cc);
                if let Ok(Lit::Ref(_, next)) =
                    convert(self.read, &env, Ty::Ref(Kind::Queue), &child.args, None)
                {
                    at = Some(next);
                }
            }
        }
        total
    }

    /// A setting of a declaration, read as `check` read it (relative to
    /// the declaration's own file).
    fn decl_lit(&self, decl: DeclRef, setting: &str, cc: &str) -> Option<Lit> {
        let stmt = self.read.sources.stmt(decl)?;
        let spec = schema::decl(&stmt.head.name)?;
        let arg = spec
            .settings
            .iter()
            .find(|s| s.name == setting)?
            .args
            .first()?;
        let child = stmt.children().iter().find(|c| c.head.name == setting)?;
        let env = Env::new(decl.file, cc);
        convert(self.read, &env, arg.ty, &child.args, None).ok()
    }

    /// A duration setting of a declaration, read as `check` read it.
    fn decl_duration(&self, decl: DeclRef, setting: &str, cc: &str) -> Option<u64> {
        match self.decl_lit(decl, setting, cc)? {
            Lit::Duration(ms) => Some(ms),
            _ => None,
        }
    }
}

/// The exit an arm wires, as named in the graph.
fn arm_name(value: &Value) -> Option<String> {
    use crate::ast::ValueKind;
    match &value.kind {
        ValueKind::Path(p) if p.len() == 1 => Some(crate::ast::join_path(p)),
        ValueKind::Number(n) => Some(n.clone()),
        ValueKind::Key(k) => Some(k.to_string()),
        ValueKind::Str(s) => Some(s.clone()),
        _ => None,
    }
}

/// A block's exits in graph order: the continuation, keys or cases as
/// written, then the fixed exits.
fn exit_names(spec: &Block, arms: &[(String, &Stmt)]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if spec.name == "goto" {
        return vec!["next".into()];
    }
    if let Some(next) = spec.next {
        out.push(next.into());
    }
    match spec.mode {
        ExitMode::Keys => out.extend(
            arms.iter()
                .map(|(n, _)| n.clone())
                .filter(|n| !spec.has_exit(n) && n != "else"),
        ),
        ExitMode::Cases => {
            out.extend(arms.iter().map(|(n, _)| n.clone()).filter(|n| n != "else"));
            out.push("else".into());
        }
        ExitMode::Fixed => {}
    }
    out.extend(spec.exits.iter().map(|e| e.name.to_string()));
    out
}
