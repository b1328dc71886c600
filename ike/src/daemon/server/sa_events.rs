//! VICI's SA events from the core's events: `ike-updown` (IkeUp / IkeDown),
//! `child-updown` (a CHILD_SA installed in the kernel / DeleteChild),
//! `ike-rekey` (an IkeUp whose IKE_SA took over another one's CHILD_SAs:
//! an IKE_SA rekey moves them), `child-rekey` (a CHILD_SA installed beside
//! a live one of the same IKE_SA and reqid: a CHILD_SA rekey keeps the reqid).
//! The SA replaced by a rekey goes without a down event, as in strongSwan.
//!
//! Nothing is built while no VICI client listens. A down event needs the
//! SA as it was (the core has forgotten it by then): the views are kept
//! from the up event on, and refreshed with the kernel counters when a
//! CHILD_SA goes. An SA that came up before anyone listened goes with the
//! fields its event carries.

use super::Daemon;
use crate::daemon::core::Core;
use crate::daemon::status::{ChildSaView, IkeSaView};
use crate::daemon::vici::codec::Message;
use crate::daemon::vici::events::{self, Hub};
use crate::sa::ChildSaInstall;
use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// The views the down and rekey events need.
#[derive(Debug, Default)]
pub(crate) struct SaEvents {
    pub hub: Hub,
    /// IKE_SAs that are up (without their CHILD_SAs), and when the view was taken.
    ikes: HashMap<u32, (IkeSaView, Instant)>,
    /// Installed CHILD_SAs: id -> (IKE_SA id, view, when it was taken).
    children: HashMap<u32, (u32, ChildSaView, Instant)>,
    /// SAs replaced by a rekey (their end is not a down event).
    rekeyed_ikes: HashSet<u32>,
    rekeyed_children: HashSet<u32>,
}

impl SaEvents {
    /// Whether to build events; forgets everything while nobody listens.
    fn active(&mut self) -> bool {
        if self.hub.listening() {
            return true;
        }
        self.ikes.clear();
        self.children.clear();
        self.rekeyed_ikes.clear();
        self.rekeyed_children.clear();
        false
    }
}

impl<C: Core> Daemon<C> {
    /// The IKE_SA `ike_id` as `list-sas` shows it (with kernel counters).
    fn view_of(&mut self, now: Instant, ike_id: u32) -> Option<IkeSaView> {
        let s = self.core.status_of(now, ike_id)?;
        Some(self.ike_view(s, true))
    }

    pub(super) fn publish_ike_up(&mut self, now: Instant, ike_id: u32) {
        if !self.sa_events.active() {
            return;
        }
        let Some(mut sa) = self.view_of(now, ike_id) else {
            return;
        };
        // An IKE_SA rekey hands the CHILD_SAs over to the new IKE_SA.
        let e = &mut self.sa_events;
        let old = sa.children.iter().find_map(|c| {
            e.children
                .get(&c.child_id)
                .map(|(owner, _, _)| *owner)
                .filter(|o| *o != ike_id && e.ikes.contains_key(o))
        });
        for c in &sa.children {
            if let Some(entry) = e.children.get_mut(&c.child_id) {
                entry.0 = ike_id;
            }
        }
        sa.children.clear();
        let m = match old.and_then(|o| e.ikes.get(&o).map(|v| (o, v))) {
            Some((o, (old_view, at))) => {
                let m = events::ike_rekey(&self.config, &aged_ike(old_view, *at, now), &sa);
                e.rekeyed_ikes.insert(o);
                ("ike-rekey", m)
            }
            None => ("ike-updown", events::ike_updown(true, &self.config, &sa)),
        };
        e.ikes.insert(ike_id, (sa, now));
        e.hub.publish(m.0, m.1);
    }

    pub(super) fn publish_ike_down(&mut self, now: Instant, ike_id: u32, conn: &str) {
        if !self.sa_events.active() {
            return;
        }
        let e = &mut self.sa_events;
        let view = e.ikes.remove(&ike_id);
        if e.rekeyed_ikes.remove(&ike_id) {
            return;
        }
        let m = match view {
            Some((v, at)) => {
                let mut v = aged_ike(&v, at, now);
                v.state = "DELETING".into();
                events::ike_updown(false, &self.config, &v)
            }
            None => bare_ike(conn, ike_id),
        };
        e.hub.publish("ike-updown", m);
    }

    /// A CHILD_SA the kernel accepted: `child-updown` up, or `child-rekey`.
    pub(super) fn publish_child_up(&mut self, now: Instant, c: &ChildSaInstall) {
        if !self.sa_events.active() {
            return;
        }
        let Some(mut sa) = self.view_of(now, c.ike_id) else {
            return;
        };
        let Some(child) = sa
            .children
            .iter()
            .find(|x| x.child_id == c.child_id)
            .cloned()
        else {
            return;
        };
        sa.children.clear();
        let e = &mut self.sa_events;
        let old = e
            .children
            .iter()
            .find(|(id, (owner, v, _))| {
                **id != c.child_id
                    && *owner == c.ike_id
                    && v.reqid == c.reqid
                    && !e.rekeyed_children.contains(id)
            })
            .map(|(id, (_, v, at))| (*id, aged_child(v, *at, now)));
        let m = match old {
            Some((old_id, mut old_view)) => {
                e.rekeyed_children.insert(old_id);
                // the old CHILD_SA's last counters (it still carries traffic)
                if let Some((i, o)) = self.kernel.counters(old_id) {
                    old_view.counters = Some(super::counters_of(&i, &o));
                }
                (
                    "child-rekey",
                    events::child_rekey(&self.config, &sa, &old_view, &child),
                )
            }
            None => (
                "child-updown",
                events::child_updown(true, &self.config, &sa, &child),
            ),
        };
        e.children.insert(c.child_id, (c.ike_id, child, now));
        e.hub.publish(m.0, m.1);
    }

    /// A CHILD_SA going (before its SAs leave the kernel: the counters are
    /// read one last time).
    pub(super) fn publish_child_down(&mut self, now: Instant, conn: &str, child_id: u32) {
        if !self.sa_events.active() {
            return;
        }
        let gone = self.sa_events.children.remove(&child_id);
        if self.sa_events.rekeyed_children.remove(&child_id) {
            return;
        }
        let Some((ike_id, child, at)) = gone else {
            self.sa_events
                .hub
                .publish("child-updown", bare_child(conn, child_id));
            return;
        };
        let mut child = aged_child(&child, at, now);
        if let Some((i, o)) = self.kernel.counters(child_id) {
            child.counters = Some(super::counters_of(&i, &o));
        }
        let sa = match self.view_of(now, ike_id) {
            Some(mut v) => {
                v.children.clear();
                v
            }
            None => match self.sa_events.ikes.get(&ike_id) {
                Some((v, at)) => aged_ike(v, *at, now),
                None => {
                    self.sa_events
                        .hub
                        .publish("child-updown", bare_child(conn, child_id));
                    return;
                }
            },
        };
        let m = events::child_updown(false, &self.config, &sa, &child);
        self.sa_events.hub.publish("child-updown", m);
    }
}

/// A kept IKE_SA view `at` as it is `now` (its times moved on).
fn aged_ike(v: &IkeSaView, at: Instant, now: Instant) -> IkeSaView {
    let dt = now.saturating_duration_since(at).as_secs();
    let mut v = v.clone();
    v.established_secs_ago = v.established_secs_ago.map(|e| e + dt);
    v.rekey_in_secs = v.rekey_in_secs.map(|r| r.saturating_sub(dt));
    v
}

/// A kept CHILD_SA view `at` as it is `now`.
fn aged_child(v: &ChildSaView, at: Instant, now: Instant) -> ChildSaView {
    let dt = now.saturating_duration_since(at).as_secs();
    let mut v = v.clone();
    v.established_secs_ago += dt;
    v.rekey_in_secs = v.rekey_in_secs.map(|r| r.saturating_sub(dt));
    v
}

/// An IKE_SA nobody saw come up: what its end tells.
fn bare_ike(conn: &str, ike_id: u32) -> Message {
    let mut sa = Message::new();
    sa.kv("uniqueid", ike_id.to_string())
        .kv("version", "2")
        .kv("state", "DELETING")
        .section("child-sas", Message::new());
    let mut m = Message::new();
    m.section(conn, sa);
    m
}

/// A CHILD_SA nobody saw come up.
fn bare_child(conn: &str, child_id: u32) -> Message {
    let mut c = Message::new();
    c.kv("name", conn)
        .kv("uniqueid", child_id.to_string())
        .kv("state", "DELETING");
    let mut cs = Message::new();
    cs.section(&format!("{conn}-{child_id}"), c);
    let mut sa = Message::new();
    sa.section("child-sas", cs);
    let mut m = Message::new();
    m.section(conn, sa);
    m
}
