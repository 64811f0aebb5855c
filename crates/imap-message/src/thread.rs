//! THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256 section 3) over messages that the
//! caller has already read the ids, dates and base subjects of. Every walk is iterative:
//! reply chains thousands deep are ordinary input here.

use std::collections::HashMap;

use crate::ThreadIds;

/// What THREAD needs of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadInput {
    /// Sequence number or UID: what the response lists.
    pub id: u32,
    pub ids: ThreadIds,
    /// Sent date (or internal date when there is none), unix seconds.
    pub date: i64,
    /// See [`crate::base_subject`].
    pub base_subject: String,
}

/// THREAD=ORDEREDSUBJECT: messages grouped by base subject; in each group the first (by date)
/// is the parent of all the others; groups ordered by their first message's date.
pub fn thread_ordered_subject(messages: &[ThreadInput]) -> String {
    let mut order: Vec<&ThreadInput> = messages.iter().collect();
    order.sort_by(|a, b| {
        (a.base_subject.as_str(), a.date, a.id).cmp(&(b.base_subject.as_str(), b.date, b.id))
    });
    let mut groups: Vec<Vec<&ThreadInput>> = Vec::new();
    for m in order {
        match groups.last_mut() {
            Some(g) if g.first().is_some_and(|f| f.base_subject == m.base_subject) => g.push(m),
            _ => groups.push(vec![m]),
        }
    }
    groups.sort_by_key(|g| g.first().map(|f| (f.date, f.id)));
    let mut out = String::new();
    for group in groups {
        let mut members = group.iter();
        let Some(first) = members.next() else {
            continue;
        };
        out.push('(');
        out.push_str(&first.id.to_string());
        match group.len() {
            0 | 1 => {}
            2 => {
                for m in members {
                    out.push(' ');
                    out.push_str(&m.id.to_string());
                }
            }
            _ => {
                out.push(' ');
                for m in members {
                    out.push('(');
                    out.push_str(&m.id.to_string());
                    out.push(')');
                }
            }
        }
        out.push(')');
    }
    out
}

/// THREAD=REFERENCES (RFC 5256 section 3), treating no message as a reply by subject.
/// See [`thread_references_replies`].
pub fn thread_references(messages: &[ThreadInput]) -> String {
    thread_references_replies(messages, &[])
}

/// THREAD=REFERENCES; `is_reply[i]` says whether message `i`'s subject was a reply or forward
/// (see [`crate::base_subject_and_reply`]; missing entries count as false). The RFC uses that
/// when step 5 merges threads with the same base subject.
pub fn thread_references_replies(messages: &[ThreadInput], is_reply: &[bool]) -> String {
    let mut forest = Forest::default();
    forest.link(messages);
    let roots = forest.roots();
    let roots = forest.prune(roots);
    forest.sort(&roots, messages);
    let mut roots = forest.sort_roots(roots, messages);
    roots = forest.merge_by_subject(roots, messages, is_reply);
    forest.flatten_inner_dummies(&roots);
    forest.sort(&roots, messages);
    let roots = forest.sort_roots(roots, messages);
    forest.write(&roots, messages)
}

#[derive(Debug, Default, Clone)]
struct Node {
    /// Index into the input; `None` for a dummy (an id only seen in references).
    msg: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

#[derive(Debug, Default)]
struct Forest {
    nodes: Vec<Node>,
    /// (date, id) sort key of each node, filled by `sort`.
    keys: Vec<(i64, u32)>,
}

impl Forest {
    fn new_node(&mut self, msg: Option<usize>) -> usize {
        self.nodes.push(Node {
            msg,
            ..Node::default()
        });
        self.nodes.len() - 1
    }

    fn parent(&self, n: usize) -> Option<usize> {
        self.nodes.get(n).and_then(|n| n.parent)
    }

    /// Whether `a` is `b` or one of `b`'s ancestors.
    fn is_ancestor_or_self(&self, a: usize, b: usize) -> bool {
        if a == b {
            return true;
        }
        // a node without children is nobody's ancestor: keeps long reply chains linear
        if self.nodes.get(a).is_none_or(|n| n.children.is_empty()) {
            return false;
        }
        let mut cur = Some(b);
        while let Some(c) = cur {
            if c == a {
                return true;
            }
            cur = self.parent(c);
        }
        false
    }

    fn unlink(&mut self, child: usize) {
        if let Some(p) = self.parent(child) {
            if let Some(parent) = self.nodes.get_mut(p) {
                parent.children.retain(|&c| c != child);
            }
            if let Some(c) = self.nodes.get_mut(child) {
                c.parent = None;
            }
        }
    }

    fn attach(&mut self, child: usize, parent: usize) {
        self.unlink(child);
        if let Some(c) = self.nodes.get_mut(child) {
            c.parent = Some(parent);
        }
        if let Some(p) = self.nodes.get_mut(parent) {
            p.children.push(child);
        }
    }

    /// Step 1: containers for every id, linked as the references say.
    fn link(&mut self, messages: &[ThreadInput]) {
        let mut by_id: HashMap<&str, usize> = HashMap::new();
        let mut own = Vec::with_capacity(messages.len());
        for (i, m) in messages.iter().enumerate() {
            let node = match m.ids.message_id.as_deref() {
                Some(id) => match by_id.get(id).copied() {
                    Some(n) if self.nodes.get(n).is_some_and(|n| n.msg.is_none()) => {
                        if let Some(node) = self.nodes.get_mut(n) {
                            node.msg = Some(i);
                        }
                        n
                    }
                    // a duplicate Message-ID: the message gets a unique one
                    Some(_) => self.new_node(Some(i)),
                    None => {
                        let n = self.new_node(Some(i));
                        by_id.insert(id, n);
                        n
                    }
                },
                None => self.new_node(Some(i)),
            };
            own.push(node);
        }
        for (m, &node) in messages.iter().zip(&own) {
            let refs: Vec<&str> = if m.ids.references.is_empty() {
                m.ids.in_reply_to.iter().map(String::as_str).collect()
            } else {
                m.ids.references.iter().map(String::as_str).collect()
            };
            let mut chain = Vec::with_capacity(refs.len());
            for r in refs {
                let n = match by_id.get(r) {
                    Some(&n) => n,
                    None => {
                        let n = self.new_node(None);
                        by_id.insert(r, n);
                        n
                    }
                };
                chain.push(n);
            }
            // (A) link the references to each other, never changing an existing link
            for pair in chain.windows(2) {
                if let [a, b] = *pair
                    && self.parent(b).is_none()
                    && !self.is_ancestor_or_self(b, a)
                {
                    self.attach(b, a);
                }
            }
            // (B) the message is a child of its last reference
            if let Some(&last) = chain.last()
                && !self.is_ancestor_or_self(node, last)
            {
                self.attach(node, last);
            }
        }
    }

    /// Step 2: containers without a parent.
    fn roots(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&n| self.parent(n).is_none())
            .collect()
    }

    fn is_dummy(&self, n: usize) -> bool {
        self.nodes.get(n).is_some_and(|n| n.msg.is_none())
    }

    fn children(&self, n: usize) -> Vec<usize> {
        self.nodes
            .get(n)
            .map(|n| n.children.clone())
            .unwrap_or_default()
    }

    fn set_children(&mut self, n: usize, children: Vec<usize>) {
        for &c in &children {
            if let Some(c) = self.nodes.get_mut(c) {
                c.parent = Some(n);
            }
        }
        if let Some(node) = self.nodes.get_mut(n) {
            node.children = children;
        }
    }

    /// Nodes below `roots`, parents before children.
    fn preorder(&self, roots: &[usize]) -> Vec<usize> {
        let mut order = Vec::new();
        let mut stack: Vec<usize> = roots.iter().rev().copied().collect();
        while let Some(n) = stack.pop() {
            order.push(n);
            if let Some(node) = self.nodes.get(n) {
                stack.extend(node.children.iter().rev());
            }
        }
        order
    }

    /// Step 3: dummies without children go; dummies with children give way to them, except
    /// at the root, where a dummy with several children stays.
    fn prune(&mut self, roots: Vec<usize>) -> Vec<usize> {
        for n in self.preorder(&roots).into_iter().rev() {
            let mut kept = Vec::new();
            for c in self.children(n) {
                if self.is_dummy(c) {
                    kept.extend(self.children(c));
                } else {
                    kept.push(c);
                }
            }
            self.set_children(n, kept);
        }
        let mut kept = Vec::new();
        for r in roots {
            if !self.is_dummy(r) {
                kept.push(r);
                continue;
            }
            let children = self.children(r);
            match children.len() {
                0 => {}
                1 => {
                    for c in children {
                        self.unlink(c);
                        kept.push(c);
                    }
                }
                _ => kept.push(r),
            }
        }
        kept
    }

    fn msg_key(messages: &[ThreadInput], msg: usize) -> (i64, u32) {
        messages.get(msg).map_or((0, 0), |m| (m.date, m.id))
    }

    /// Steps 4 and 6: siblings by date (a dummy takes its first child's), bottom-up.
    fn sort(&mut self, roots: &[usize], messages: &[ThreadInput]) {
        self.keys.resize(self.nodes.len(), (0, 0));
        for n in self.preorder(roots).into_iter().rev() {
            let mut children = self.children(n);
            children.sort_by_key(|&c| self.keys.get(c).copied());
            let key = match self.nodes.get(n).and_then(|node| node.msg) {
                Some(msg) => Self::msg_key(messages, msg),
                None => children
                    .first()
                    .and_then(|&c| self.keys.get(c).copied())
                    .unwrap_or((0, 0)),
            };
            if let Some(k) = self.keys.get_mut(n) {
                *k = key;
            }
            if let Some(node) = self.nodes.get_mut(n) {
                node.children = children;
            }
        }
    }

    fn sort_roots(&self, mut roots: Vec<usize>, _messages: &[ThreadInput]) -> Vec<usize> {
        roots.sort_by_key(|&r| self.keys.get(r).copied());
        roots
    }

    /// The message that speaks for a node: itself, or a dummy's first child.
    fn representative(&self, n: usize) -> Option<usize> {
        let node = self.nodes.get(n)?;
        match node.msg {
            Some(m) => Some(m),
            None => node
                .children
                .first()
                .and_then(|&c| self.nodes.get(c))
                .and_then(|c| c.msg),
        }
    }

    /// Step 5: root threads with the same base subject are gathered.
    fn merge_by_subject(
        &mut self,
        roots: Vec<usize>,
        messages: &[ThreadInput],
        is_reply: &[bool],
    ) -> Vec<usize> {
        let subject_of = |f: &Forest, n: usize| -> Option<String> {
            let m = f.representative(n)?;
            messages
                .get(m)
                .map(|m| m.base_subject.clone())
                .filter(|s| !s.is_empty())
        };
        let reply_of = |f: &Forest, n: usize| -> bool {
            f.representative(n)
                .and_then(|m| is_reply.get(m).copied())
                .unwrap_or(false)
        };
        let mut table: HashMap<String, usize> = HashMap::new();
        for &r in &roots {
            let Some(subject) = subject_of(self, r) else {
                continue;
            };
            match table.get(&subject).copied() {
                None => {
                    table.insert(subject, r);
                }
                Some(t) => {
                    if (self.is_dummy(r) && !self.is_dummy(t))
                        || (!reply_of(self, r) && reply_of(self, t))
                    {
                        table.insert(subject, r);
                    }
                }
            }
        }
        let mut roots = roots;
        let mut removed = vec![false; self.nodes.len()];
        for i in 0..roots.len() {
            let Some(&r) = roots.get(i) else { continue };
            let Some(subject) = subject_of(self, r) else {
                continue;
            };
            let Some(&t) = table.get(&subject) else {
                continue;
            };
            if t == r || removed.get(r).copied().unwrap_or(false) {
                continue;
            }
            if self.is_dummy(t) && self.is_dummy(r) {
                for c in self.children(r) {
                    self.attach(c, t);
                }
                mark(&mut removed, r);
            } else if self.is_dummy(t) || (reply_of(self, r) && !reply_of(self, t)) {
                // into the table's dummy, or a reply below the thread it replies to
                self.attach(r, t);
                mark(&mut removed, r);
            } else {
                let d = self.new_node(None);
                removed.push(false);
                if let Some(slot) = roots.iter_mut().find(|x| **x == t) {
                    *slot = d;
                }
                table.insert(subject, d);
                self.attach(t, d);
                self.attach(r, d);
                mark(&mut removed, r);
            }
        }
        roots
            .into_iter()
            .filter(|&r| !removed.get(r).copied().unwrap_or(false))
            .collect()
    }

    /// A dummy can end up below a message after step 5; the thread syntax has no place for
    /// it there, so its children take its place.
    fn flatten_inner_dummies(&mut self, roots: &[usize]) {
        for n in self.preorder(roots).into_iter().rev() {
            let children = self.children(n);
            if children.iter().any(|&c| self.is_dummy(c)) {
                let mut kept = Vec::new();
                for c in children {
                    if self.is_dummy(c) {
                        kept.extend(self.children(c));
                    } else {
                        kept.push(c);
                    }
                }
                self.set_children(n, kept);
            }
        }
    }

    /// The thread list: `(a b (c d)(e))`; a message with one child continues the chain,
    /// several children are nested lists.
    fn write(&self, roots: &[usize], messages: &[ThreadInput]) -> String {
        enum Step {
            Node(usize),
            Text(&'static str),
        }
        let mut out = String::new();
        let mut stack: Vec<Step> = Vec::new();
        for &r in roots.iter().rev() {
            stack.push(Step::Text(")"));
            stack.push(Step::Node(r));
            stack.push(Step::Text("("));
        }
        while let Some(step) = stack.pop() {
            let n = match step {
                Step::Text(t) => {
                    out.push_str(t);
                    continue;
                }
                Step::Node(n) => n,
            };
            let Some(node) = self.nodes.get(n) else {
                continue;
            };
            let nested = |stack: &mut Vec<Step>, children: &[usize]| {
                for &c in children.iter().rev() {
                    stack.push(Step::Text(")"));
                    stack.push(Step::Node(c));
                    stack.push(Step::Text("("));
                }
            };
            match node.msg.and_then(|m| messages.get(m)) {
                None => nested(&mut stack, &node.children),
                Some(m) => {
                    out.push_str(&m.id.to_string());
                    match node.children.as_slice() {
                        [] => {}
                        [only] => {
                            stack.push(Step::Node(*only));
                            stack.push(Step::Text(" "));
                        }
                        children => {
                            nested(&mut stack, children);
                            stack.push(Step::Text(" "));
                        }
                    }
                }
            }
        }
        out
    }
}

fn mark(removed: &mut [bool], n: usize) {
    if let Some(r) = removed.get_mut(n) {
        *r = true;
    }
}
