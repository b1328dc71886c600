//! `terminate`: by IKE_SA name (`ike`: every IKE_SA of the conn, which also
//! stops its `keyingtries` retries), IKE_SA unique id (`ike-id`), CHILD_SA
//! name (`child`: every CHILD_SA of that name, their IKE_SAs stay) or
//! CHILD_SA unique id (`child-id`); `ike` with an id or `child` narrows it.
//! With `timeout` and `control-log`, as `initiate`.

use super::codec::Message;
use super::commands::{Wait, control, control_logged, loglevel, snapshot};
use super::events::ControlFilter;
use super::{Out, Query, Snapshot, ViciError};
use crate::daemon::control::Request;
use tokio::sync::mpsc;

fn terminate_result(ok: bool, matches: usize, terminated: usize, errmsg: &str) -> Message {
    let mut m = Message::new();
    m.kv("success", if ok { "yes" } else { "no" })
        .kv("matches", matches.to_string())
        .kv("terminated", terminated.to_string());
    if !ok {
        m.kv("errmsg", errmsg);
    }
    m
}

/// `ike-id` / `child-id` (or with `_`): None if absent, Some(None) if not a number.
fn id_arg(args: &Message, key: &str) -> Option<Option<u32>> {
    args.get_str(key)
        .or_else(|| args.get_str(&key.replace('-', "_")))
        .map(|v| v.parse().ok())
}

/// The SAs a `terminate` or `rekey` names.
#[derive(Debug, PartialEq, Eq)]
pub enum Selected {
    /// IKE_SAs, (unique id, conn); `by_name`: only `ike` was given.
    Ikes {
        sas: Vec<(u32, String)>,
        by_name: Option<String>,
    },
    /// CHILD_SAs, (unique id, conn).
    Children(Vec<(u32, String)>),
}

impl Selected {
    pub fn is_empty(&self) -> bool {
        match self {
            Selected::Ikes { sas, .. } => sas.is_empty(),
            Selected::Children(c) => c.is_empty(),
        }
    }

    /// The conn of the first SA (the one whose log lines are streamed).
    pub fn conn(&self) -> String {
        match self {
            Selected::Ikes { sas, .. } | Selected::Children(sas) => {
                sas.first().map(|(_, c)| c.clone()).unwrap_or_default()
            }
        }
    }
}

/// The selectors `ike`, `ike-id`, `child`, `child-id` (`what` names the
/// command in the error without any of them): a CHILD_SA selector picks
/// CHILD_SAs (of the IKE_SAs `ike` / `ike-id` narrow to), else IKE_SAs.
pub fn select(s: &Snapshot, args: &Message, what: &str) -> Result<Selected, String> {
    let ike = args.get_str("ike");
    let child = args.get_str("child");
    let ike_id = id_arg(args, "ike-id");
    let child_id = id_arg(args, "child-id");
    if matches!(ike_id, Some(None)) || matches!(child_id, Some(None)) {
        return Err("invalid unique id".into());
    }
    let (ike_id, child_id) = (ike_id.flatten(), child_id.flatten());
    if ike.is_none() && child.is_none() && ike_id.is_none() && child_id.is_none() {
        return Err(format!("missing {what} selector"));
    }
    let sas = s
        .report
        .ike_sas
        .iter()
        .filter(|sa| ike.is_none_or(|n| n == sa.conn))
        .filter(|sa| ike_id.is_none_or(|id| id == sa.ike_id));
    Ok(if child.is_some() || child_id.is_some() {
        Selected::Children(
            sas.flat_map(|sa| sa.children.iter())
                .filter(|c| child.is_none_or(|n| n == c.conn))
                .filter(|c| child_id.is_none_or(|id| id == c.child_id))
                .map(|c| (c.child_id, c.conn.clone()))
                .collect(),
        )
    } else {
        Selected::Ikes {
            sas: sas.map(|sa| (sa.ike_id, sa.conn.clone())).collect(),
            by_name: ike.filter(|_| ike_id.is_none()).map(str::to_owned),
        }
    })
}

/// What to terminate: the control requests and the conn they concern.
pub fn targets(s: &Snapshot, args: &Message) -> Result<(Vec<Request>, String), String> {
    let sel = select(s, args, "terminate")?;
    let conn = sel.conn();
    let reqs = match sel {
        Selected::Children(c) => c
            .into_iter()
            .map(|(child_id, conn)| Request::DownChild {
                child_id,
                conn: Some(conn),
            })
            .collect(),
        // One request for the conn's IKE_SAs (the daemon counts them off;
        // it also stops the conn's `keyingtries` retries).
        Selected::Ikes {
            sas,
            by_name: Some(name),
        } => {
            if sas.is_empty() {
                Vec::new()
            } else {
                vec![Request::Down { conn: name }]
            }
        }
        Selected::Ikes { sas, by_name: None } => sas
            .into_iter()
            .map(|(ike_id, conn)| Request::DownIke {
                ike_id,
                conn: Some(conn),
            })
            .collect(),
    };
    Ok((reqs, conn))
}

pub async fn terminate(
    args: &Message,
    q: &mpsc::Sender<Query>,
    out: &Out,
) -> Result<Message, ViciError> {
    let s = snapshot(q).await?;
    let (reqs, conn) = match targets(&s, args) {
        Ok(t) => t,
        Err(e) => return Ok(terminate_result(false, 0, 0, &e)),
    };
    // An IKE_SA by name: all of the conn's IKE_SAs match.
    let matches = match reqs.as_slice() {
        [Request::Down { conn }] => s
            .report
            .ike_sas
            .iter()
            .filter(|sa| sa.conn == *conn)
            .count(),
        r => r.len(),
    };
    if reqs.is_empty() {
        return Ok(terminate_result(
            false,
            0,
            0,
            "no matching SAs to terminate found",
        ));
    }
    let wait = Wait::of(args);
    if let Wait::No = wait {
        for r in reqs {
            control(q, r, wait.limit()).await?;
        }
        return Ok(terminate_result(true, matches, matches, ""));
    }
    let filter = ControlFilter {
        conn,
        level: loglevel(args),
    };
    let by_conn = matches!(reqs.as_slice(), [Request::Down { .. }]);
    let answers = control_logged(q, reqs, wait.limit(), out, &filter).await?;
    let done = answers.iter().flatten().filter(|r| r.ok).count();
    let terminated = if by_conn && done == 1 { matches } else { done };
    let err = answers.iter().find_map(|a| match a {
        Some(r) if !r.ok => Some(r.message.clone()),
        Some(_) => None,
        None => Some(format!("terminating '{}' timed out", filter.conn)),
    });
    Ok(match err {
        None => terminate_result(true, matches, terminated, ""),
        Some(e) => terminate_result(false, matches, terminated, &e),
    })
}
