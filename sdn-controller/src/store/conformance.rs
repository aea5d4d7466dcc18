//! The store conformance suite: the behaviour every [`Store`] must have, run against
//! [`super::memory::MemoryStore`] in unit tests and against a real etcd in `tests/store_etcd.rs`.
//!
//! Each check starts from an empty store (revision 1 is not assumed: etcd may have moved). Checks
//! panic on failure, like any test.

use std::sync::Arc;
use std::time::Duration;

use super::{Compare, EventKind, Store, Txn, TxnOutcome};

/// Runs every sequential check.
pub async fn run_all<S: Store>(store: &S) {
    get_put_delete(store).await;
    revisions_grow_per_transaction(store).await;
    compare_and_swap(store).await;
    prefix_guard(store).await;
    list_by_prefix_and_pages(store).await;
    watch_replays_and_follows(store).await;
}

fn committed(outcome: TxnOutcome) -> i64 {
    match outcome {
        TxnOutcome::Committed(r) => r,
        TxnOutcome::Conflict(r) => panic!("transaction refused at revision {r}"),
    }
}

async fn put<S: Store>(store: &S, key: &str, value: &[u8]) -> i64 {
    let mut txn = Txn::default();
    txn.put(key, value.to_vec());
    committed(store.txn(txn).await.unwrap())
}

/// Put, get and delete one key; revisions of the key.
pub async fn get_put_delete<S: Store>(store: &S) {
    assert_eq!(store.get("/t/gpd/a").await.unwrap(), None);
    let r1 = put(store, "/t/gpd/a", b"one").await;
    let kv = store.get("/t/gpd/a").await.unwrap().unwrap();
    assert_eq!(kv.value, b"one");
    assert_eq!(kv.create_revision, r1);
    assert_eq!(kv.mod_revision, r1);
    let r2 = put(store, "/t/gpd/a", b"two").await;
    let kv = store.get("/t/gpd/a").await.unwrap().unwrap();
    assert_eq!((kv.create_revision, kv.mod_revision), (r1, r2));
    let mut txn = Txn::default();
    txn.delete("/t/gpd/a");
    committed(store.txn(txn).await.unwrap());
    assert_eq!(store.get("/t/gpd/a").await.unwrap(), None);
}

/// One revision per committed transaction, whatever its number of ops; refused ones move nothing.
pub async fn revisions_grow_per_transaction<S: Store>(store: &S) {
    let before = store.revision().await.unwrap();
    let mut txn = Txn::default();
    txn.put("/t/rev/a", b"1".to_vec())
        .put("/t/rev/b", b"2".to_vec())
        .put("/t/rev/c", b"3".to_vec());
    let r = committed(store.txn(txn).await.unwrap());
    assert_eq!(r, before + 1);
    assert_eq!(store.revision().await.unwrap(), before + 1);
    for k in ["/t/rev/a", "/t/rev/b", "/t/rev/c"] {
        assert_eq!(store.get(k).await.unwrap().unwrap().mod_revision, r);
    }
    let mut refused = Txn::default();
    refused
        .expect("/t/rev/a", r - 1)
        .put("/t/rev/d", b"4".to_vec());
    assert_eq!(store.txn(refused).await.unwrap(), TxnOutcome::Conflict(r));
    assert_eq!(
        store.revision().await.unwrap(),
        r,
        "a refused txn moves nothing"
    );
    assert_eq!(store.get("/t/rev/d").await.unwrap(), None, "all or nothing");
}

/// Mod-revision guards: the current one passes, a stale one fails, 0 means "absent".
pub async fn compare_and_swap<S: Store>(store: &S) {
    let mut create = Txn::default();
    create.expect("/t/cas/k", 0).put("/t/cas/k", b"v1".to_vec());
    let r1 = committed(store.txn(create.clone()).await.unwrap());
    assert!(
        matches!(store.txn(create).await.unwrap(), TxnOutcome::Conflict(_)),
        "create-if-absent refuses an existing key"
    );
    let mut update = Txn::default();
    update
        .expect("/t/cas/k", r1)
        .put("/t/cas/k", b"v2".to_vec());
    let r2 = committed(store.txn(update.clone()).await.unwrap());
    assert!(
        matches!(store.txn(update).await.unwrap(), TxnOutcome::Conflict(_)),
        "a stale revision is refused"
    );
    assert_eq!(store.get("/t/cas/k").await.unwrap().unwrap().value, b"v2");
    let mut both = Txn::default();
    both.expect("/t/cas/k", r2)
        .expect("/t/cas/other", 0)
        .delete("/t/cas/k")
        .put("/t/cas/other", b"x".to_vec());
    committed(store.txn(both).await.unwrap());
    assert_eq!(store.get("/t/cas/k").await.unwrap(), None);
}

/// The prefix guard: holds while nothing under the prefix is written, fails after a write.
pub async fn prefix_guard<S: Store>(store: &S) {
    let guard = |rev| Txn {
        compares: vec![Compare::PrefixUnchangedSince {
            prefix: "/t/pg/refs/".into(),
            revision: rev,
        }],
        ops: vec![],
    };
    let empty_at = store.revision().await.unwrap();
    assert!(matches!(
        store.txn(guard(empty_at)).await.unwrap(),
        TxnOutcome::Committed(_)
    ));
    put(store, "/t/pg/elsewhere", b"x").await;
    assert!(
        matches!(
            store.txn(guard(empty_at)).await.unwrap(),
            TxnOutcome::Committed(_)
        ),
        "writes outside the prefix do not matter"
    );
    let r = put(store, "/t/pg/refs/a", b"x").await;
    assert!(matches!(
        store.txn(guard(empty_at)).await.unwrap(),
        TxnOutcome::Conflict(_)
    ));
    assert!(matches!(
        store.txn(guard(r)).await.unwrap(),
        TxnOutcome::Committed(_)
    ));
}

/// Listing by prefix in key order, with pages.
pub async fn list_by_prefix_and_pages<S: Store>(store: &S) {
    for k in ["b", "a", "c", "d"] {
        put(store, &format!("/t/list/{k}"), k.as_bytes()).await;
    }
    put(store, "/t/listx", b"outside").await;
    put(store, "/t/lis", b"outside").await;
    let all = store.list("/t/list/", "", 0).await.unwrap();
    let keys: Vec<&str> = all.kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["/t/list/a", "/t/list/b", "/t/list/c", "/t/list/d"]);
    assert!(!all.more);
    assert_eq!(all.revision, store.revision().await.unwrap());
    let page = store.list("/t/list/", "", 2).await.unwrap();
    assert_eq!(page.kvs.len(), 2);
    assert!(page.more);
    let next = store.list("/t/list/", "b", 2).await.unwrap();
    let keys: Vec<&str> = next.kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["/t/list/c", "/t/list/d"]);
    assert!(!next.more);
    assert!(store.list("/t/none/", "", 0).await.unwrap().kvs.is_empty());
}

/// A watch from a past revision replays history, batched per revision, then follows.
pub async fn watch_replays_and_follows<S: Store>(store: &S) {
    let r1 = put(store, "/t/w/a", b"1").await;
    let mut txn = Txn::default();
    txn.put("/t/w/b", b"2".to_vec())
        .delete("/t/w/a")
        .put("/t/other", b"no".to_vec());
    let r2 = committed(store.txn(txn).await.unwrap());
    let mut watch = store.watch("/t/w/", r1).await.unwrap();
    let b1 = next(&mut watch).await;
    assert_eq!(b1.len(), 1);
    assert_eq!(
        (b1[0].kind, b1[0].key.as_str(), b1[0].revision),
        (EventKind::Put, "/t/w/a", r1)
    );
    let b2 = next(&mut watch).await;
    assert_eq!(b2.len(), 2, "one batch per revision: {b2:?}");
    assert!(b2.iter().all(|e| e.revision == r2));
    assert!(
        b2.iter()
            .any(|e| e.kind == EventKind::Delete && e.key == "/t/w/a")
    );
    let r3 = put(store, "/t/w/c", b"3").await;
    let b3 = next(&mut watch).await;
    assert_eq!(
        (b3[0].key.as_str(), b3[0].value.as_slice(), b3[0].revision),
        ("/t/w/c", &b"3"[..], r3)
    );
    // A watch from "now" sees only later changes.
    let mut live = store.watch("/t/w/", 0).await.unwrap();
    let r4 = put(store, "/t/w/d", b"4").await;
    let b4 = next(&mut live).await;
    assert_eq!(b4[0].revision, r4);
}

async fn next(w: &mut super::Watch) -> Vec<super::Event> {
    tokio::time::timeout(Duration::from_secs(5), w.next())
        .await
        .expect("watch event within 5 s")
        .expect("watch open")
        .expect("watch healthy")
}

/// 20 writers update one key from the same revision: exactly one wins.
pub async fn concurrent_cas<S: Store>(store: S) {
    let store = Arc::new(store);
    let r0 = put(&*store, "/t/cc/k", b"0").await;
    let mut tasks = Vec::new();
    for i in 0..20u8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut txn = Txn::default();
            txn.expect("/t/cc/k", r0).put("/t/cc/k", vec![i]);
            store.txn(txn).await.unwrap()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), TxnOutcome::Committed(_)) {
            wins += 1;
        }
    }
    assert_eq!(wins, 1, "exactly one writer wins");
}
