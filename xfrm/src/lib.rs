//! Typed Linux XFRM netlink API (see issue: xfrm).
