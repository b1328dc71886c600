//! `rekey`: the IKE_SAs or CHILD_SAs a client names (selected as
//! `terminate` selects them: `ike`, `ike-id`, `child`, `child-id`) are
//! rekeyed now, through the core's own rekey path (a CREATE_CHILD_SA, as
//! when the rekey timer fires). As with charon, the answer does not wait for
//! the exchange: its outcome is the `ike-rekey` / `child-rekey` event and
//! the new SPIs `list-sas` shows. `reauth` is refused: iked rekeys IKE_SAs
//! in place, it does not reauthenticate them.

use super::codec::Message;
use super::commands::snapshot;
use super::terminate::{Selected, select};
use super::{Query, ViciError};
use tokio::sync::{mpsc, oneshot};

/// One SA to rekey, by unique id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Ike(u32),
    Child(u32),
}

/// The answer: `success`, `matches`, `errmsg` on failure (charon's order).
fn rekey_result(errmsg: Option<&str>, matches: usize) -> Message {
    let mut m = Message::new();
    m.kv("success", if errmsg.is_none() { "yes" } else { "no" })
        .kv("matches", matches.to_string());
    if let Some(e) = errmsg {
        m.kv("errmsg", e);
    }
    m
}

pub const NO_REAUTH: &str =
    "reauthentication is not supported by iked (it rekeys IKE_SAs in place)";

pub async fn rekey(args: &Message, q: &mpsc::Sender<Query>) -> Result<Message, ViciError> {
    if args.get_str("reauth").is_some_and(|v| v == "yes") {
        return Ok(rekey_result(Some(NO_REAUTH), 0));
    }
    let s = snapshot(q).await?;
    let sel = match select(&s, args, "rekey") {
        Ok(sel) => sel,
        Err(e) => return Ok(rekey_result(Some(&e), 0)),
    };
    if sel.is_empty() {
        return Ok(rekey_result(Some("no matching SAs to rekey found"), 0));
    }
    let targets: Vec<Target> = match sel {
        Selected::Ikes { sas, .. } => sas.into_iter().map(|(id, _)| Target::Ike(id)).collect(),
        Selected::Children(c) => c.into_iter().map(|(id, _)| Target::Child(id)).collect(),
    };
    let matches = targets.len();
    let (tx, rx) = oneshot::channel();
    q.send(Query::Rekey(targets, tx))
        .await
        .map_err(|_| ViciError::Gone)?;
    let results = rx.await.map_err(|_| ViciError::Gone)?;
    let failed: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    Ok(if failed.is_empty() {
        rekey_result(None, matches)
    } else {
        rekey_result(Some(&failed.join("; ")), matches)
    })
}

#[cfg(test)]
mod tests {
    use super::super::commands::handle;
    use super::super::tests::{args, client, scripted_loop};

    /// The scripted loop holds IKE_SAs [1] and [2] of `gw`, CHILD_SA {3}
    /// of [1]; only {3} can be rekeyed there.
    #[tokio::test]
    async fn rekey_selects_like_terminate_and_reports_refusals() {
        let (tx, _seen) = scripted_loop();
        let (out, _rx) = client(&[]);
        let rekey = |kv: &'static [(&'static str, &'static str)]| {
            let (tx, out) = (tx.clone(), out.clone());
            async move {
                handle("rekey", &args(kv), &tx, &out)
                    .await
                    .unwrap()
                    .unwrap()
            }
        };
        let r = rekey(&[("child", "gw")]).await;
        assert_eq!(
            (
                r.get_str("success"),
                r.get_str("matches"),
                r.get_str("errmsg")
            ),
            (Some("yes"), Some("1"), None)
        );
        let r = rekey(&[("child-id", "3")]).await;
        assert_eq!(r.get_str("success"), Some("yes"));
        // Both IKE_SAs of the conn match; the loop refuses them.
        let r = rekey(&[("ike", "gw")]).await;
        assert_eq!(
            (r.get_str("success"), r.get_str("matches")),
            (Some("no"), Some("2"))
        );
        assert_eq!(r.get_str("errmsg"), Some("Ike(1) refused; Ike(2) refused"));
        let r = rekey(&[("ike-id", "9")]).await;
        assert_eq!(r.get_str("errmsg"), Some("no matching SAs to rekey found"));
        assert_eq!(r.get_str("matches"), Some("0"));
        let r = rekey(&[]).await;
        assert_eq!(r.get_str("errmsg"), Some("missing rekey selector"));
        let r = rekey(&[("ike", "gw"), ("reauth", "yes")]).await;
        assert_eq!(
            (r.get_str("success"), r.get_str("errmsg")),
            (Some("no"), Some(super::NO_REAUTH))
        );
    }
}
