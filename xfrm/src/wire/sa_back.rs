//! An SA read back from the kernel whole, keys included (XFRM_MSG_GETSA
//! answers them to CAP_NET_ADMIN), to be sent again changed: a NAT mapping
//! or an address change rebuilds an SA from what the kernel holds, so that
//! the daemon need not keep a copy of every SA's keys for the SA's life.
//!
//! What the kernel answers beside the install's attributes (the untruncated
//! `XFRMA_ALG_AUTH` next to `XFRMA_ALG_AUTH_TRUNC`, `XFRMA_REPLAY_VAL` of a
//! fresh SA, `XFRMA_LASTUSED`, counters) is read or left out so that the SA
//! comes back as it was installed, with its replay state.

use super::*;

/// The SA of a NEWSA/UPDSA message (a GETSA answer), keys included; the
/// message's own key copies are wiped.
pub(crate) fn sa_whole(mut m: XfrmMessage) -> Result<Sa, Error> {
    let sa = sa_of(&m);
    wipe_message(&mut m);
    sa
}

fn sa_of(m: &XfrmMessage) -> Result<Sa, Error> {
    let (XfrmMessage::AddSa(x) | XfrmMessage::UpdateSa(x)) = m else {
        return Err(Error::Malformed("expected an SA (XFRM_MSG_NEWSA)".into()));
    };
    let i = &x.user_sa_info;
    let a = scan_attrs(&x.nlas);
    let mode = Mode::from_number(i.mode)
        .ok_or_else(|| Error::Malformed(format!("SA mode {} unknown", i.mode)))?;
    let extra_flags = x
        .nlas
        .iter()
        .find_map(|n| match n {
            XfrmAttrs::ExtraFlags(f) => Some(*f),
            _ => None,
        })
        .unwrap_or(0);
    Ok(Sa {
        src: ip_of(&i.saddr, i.family),
        dst: ip_of(&i.id.daddr, i.family),
        spi: i.id.spi,
        protocol: Protocol::from_number(i.id.proto),
        mode,
        reqid: i.reqid,
        crypto: crypto_of(&x.nlas)?,
        replay_window: a.replay_esn_window.unwrap_or(u32::from(i.replay_window)),
        esn: i.flags & XFRM_STATE_ESN != 0,
        encap: a.encap,
        mark: a.mark,
        if_id: a.if_id,
        lifetime: lifetime_from_nx(&i.lifetime_cfg),
        flags: SaFlags(i.flags & !XFRM_STATE_ESN),
        extra_flags,
        selector: selector_of(&i.selector, i.family),
        replay_state: a.replay_state,
    })
}

/// `None` for the all-zero selector an SA installed without one has.
fn selector_of(s: &nx::Selector, family: u16) -> Option<Selector> {
    let sel = selector_from_nx(s, family);
    let any = sel.src.len == 0
        && sel.dst.len == 0
        && sel.src.addr.is_unspecified()
        && sel.dst.addr.is_unspecified()
        && sel.proto == 0
        && sel.sport.is_none()
        && sel.dport.is_none()
        && sel.ifindex == 0;
    (!any).then_some(sel)
}

/// The first `bits` of a key attribute, in a zeroizing buffer.
fn key_of(bytes: &[u8], bits: u32) -> Result<Key, Error> {
    let n = bits.div_ceil(8) as usize;
    bytes.get(..n).map(Key::from_slice).ok_or_else(|| {
        Error::Malformed(format!("an SA key of {bits} bits in {} bytes", bytes.len()))
    })
}

fn crypto_of(nlas: &[XfrmAttrs]) -> Result<Crypto, Error> {
    let (mut aead, mut encr, mut trunc, mut full) = (None, None, None, None);
    for n in nlas {
        match n {
            XfrmAttrs::EncryptionAlgAead(x) => aead = Some(x),
            XfrmAttrs::EncryptionAlg(x) => encr = Some(x),
            XfrmAttrs::AuthenticationAlgTrunc(x) => trunc = Some(x),
            XfrmAttrs::AuthenticationAlg(x) => full = Some(x),
            _ => {}
        }
    }
    if let Some(x) = aead {
        return Ok(Crypto::Aead {
            alg: AeadAlg::from_kernel_name(&name_str(&x.alg_name)),
            key: key_of(&x.alg_key, x.alg_key_len)?,
            icv_bits: x.alg_icv_len,
        });
    }
    // the truncated form names the truncation; the full one alone (an SA
    // installed with XFRMA_ALG_AUTH) truncates as IPsec does
    let integ = match (trunc, full) {
        (Some(t), _) => Some((
            IntegAlg::from_kernel_name(&name_str(&t.alg_name)),
            key_of(&t.alg_key, t.alg_key_len)?,
            t.alg_trunc_len,
        )),
        (None, Some(f)) => {
            let alg = IntegAlg::from_kernel_name(&name_str(&f.alg_name));
            let trunc_bits = alg.default_trunc_bits();
            Some((alg, key_of(&f.alg_key, f.alg_key_len)?, trunc_bits))
        }
        (None, None) => None,
    };
    match (encr, integ) {
        (Some(e), Some((integ, integ_key, trunc_bits))) => Ok(Crypto::EncrInteg {
            encr: EncrAlg::from_kernel_name(&name_str(&e.alg_name)),
            encr_key: key_of(&e.alg_key, e.alg_key_len)?,
            integ,
            integ_key,
            trunc_bits,
        }),
        (None, Some((integ, integ_key, trunc_bits))) => Ok(Crypto::Integ {
            integ,
            integ_key,
            trunc_bits,
        }),
        (Some(_), None) => Err(Error::Invalid(
            "the SA encrypts without integrity, which this crate does not install".into(),
        )),
        (None, None) => Err(Error::Malformed("an SA without algorithms".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn back(sa: &Sa) -> Sa {
        let req = sa_request(sa, false).unwrap();
        let m = decode(nx::XFRM_MSG_NEWSA, &req.body).unwrap().unwrap();
        sa_whole(m).unwrap()
    }

    fn cbc_sa() -> Sa {
        Sa::new(
            ip("2001:db8::1"),
            ip("2001:db8::2"),
            0xc000_0001,
            Mode::Transport,
            3,
            Crypto::EncrInteg {
                encr: EncrAlg::AesCbc,
                encr_key: Key::new(vec![7; 32]),
                integ: IntegAlg::HmacSha256,
                integ_key: Key::new(vec![9; 32]),
                trunc_bits: 128,
            },
        )
    }

    #[test]
    fn an_sa_comes_back_as_installed_keys_and_all() {
        let mut gcm = Sa::new(
            ip("192.0.2.1"),
            ip("192.0.2.2"),
            0x1234_5678,
            Mode::Tunnel,
            7,
            Crypto::Aead {
                alg: AeadAlg::AesGcm,
                key: Key::new((1..=20).collect()),
                icv_bits: 128,
            },
        );
        gcm.replay_window = 32;
        gcm.encap = Some(UdpEncap {
            sport: 4500,
            dport: 4501,
        });
        gcm.mark = Some(Mark::exact(6));
        gcm.if_id = Some(42);
        gcm.lifetime.soft.add_seconds = Some(30);
        gcm.lifetime.hard.packets = Some(1000);
        gcm.extra_flags = 1;
        assert_eq!(back(&gcm), gcm);
        // a selector of its own
        let mut sel = cbc_sa();
        sel.selector = Some(Selector::new(
            Prefix::new(ip("2001:db8::1"), 128),
            Prefix::new(ip("2001:db8::2"), 128),
        ));
        assert_eq!(back(&sel), sel);
        // none: all traffic of the family, and of both families (AF_UNSPEC)
        let plain = cbc_sa();
        assert_eq!(back(&plain), plain);
        let mut unspec = gcm.clone();
        unspec.flags = unspec.flags | SaFlags::AF_UNSPEC;
        assert_eq!(back(&unspec), unspec);
        // AH
        let mut ah = cbc_sa();
        ah.protocol = Protocol::Ah;
        ah.crypto = Crypto::Integ {
            integ: IntegAlg::HmacSha512,
            integ_key: Key::new(vec![3; 64]),
            trunc_bits: 256,
        };
        assert_eq!(back(&ah), ah);
        // an algorithm this crate has no name for stays the kernel's
        let mut named = gcm.clone();
        named.crypto = Crypto::Aead {
            alg: AeadAlg::Named("rfc4309(ccm(aes))".into()),
            key: Key::new(vec![5; 19]),
            icv_bits: 64,
        };
        assert_eq!(back(&named), named);
    }

    #[test]
    fn an_esn_sa_comes_back_with_its_replay_state() {
        let mut sa = cbc_sa();
        sa.esn = true;
        sa.replay_window = 128;
        sa.replay_state = Some(ReplayState {
            oseq: 10,
            seq: 20,
            oseq_hi: 1,
            seq_hi: 2,
            bitmap: vec![0xffff_0000, 1, 0, 0],
        });
        assert_eq!(back(&sa), sa);
    }

    #[test]
    fn what_the_kernel_adds_is_read_or_left_out() {
        let sa = cbc_sa();
        let req = sa_request(&sa, false).unwrap();
        let Some(XfrmMessage::AddSa(mut x)) = decode(nx::XFRM_MSG_NEWSA, &req.body).unwrap() else {
            panic!("not an SA")
        };
        // the kernel answers the untruncated algorithm first, and the
        // replay state of a fresh SA
        let full = match &x.nlas[1] {
            XfrmAttrs::AuthenticationAlgTrunc(t) => nx::Alg {
                alg_name: t.alg_name,
                alg_key_len: t.alg_key_len,
                alg_key: t.alg_key.clone(),
            },
            other => panic!("{other:?}"),
        };
        x.nlas.insert(0, XfrmAttrs::AuthenticationAlg(full));
        x.nlas.push(XfrmAttrs::ReplayState(nx::Replay {
            oseq: 0,
            seq: 0,
            bitmap: 0,
        }));
        let got = sa_whole(XfrmMessage::AddSa(x)).unwrap();
        assert_eq!(
            got.crypto, sa.crypto,
            "the truncation is the truncated form's"
        );
        assert_eq!(
            got.replay_state,
            Some(ReplayState {
                bitmap: vec![0],
                ..Default::default()
            })
        );
        assert_eq!(
            Sa {
                replay_state: None,
                ..got
            },
            sa
        );
    }

    #[test]
    fn a_short_key_or_no_algorithm_is_an_error_not_a_panic() {
        let sa = cbc_sa();
        let req = sa_request(&sa, false).unwrap();
        let Some(XfrmMessage::AddSa(mut x)) = decode(nx::XFRM_MSG_NEWSA, &req.body).unwrap() else {
            panic!("not an SA")
        };
        let mut short = x.clone();
        if let XfrmAttrs::EncryptionAlg(e) = &mut short.nlas[0] {
            e.alg_key_len = 512;
        }
        assert!(sa_whole(XfrmMessage::AddSa(short)).is_err());
        x.nlas.retain(|n| {
            !matches!(
                n,
                XfrmAttrs::EncryptionAlg(_) | XfrmAttrs::AuthenticationAlgTrunc(_)
            )
        });
        assert!(sa_whole(XfrmMessage::AddSa(x)).is_err());
    }
}
