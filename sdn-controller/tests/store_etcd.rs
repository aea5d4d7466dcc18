//! The store conformance suite against a real etcd (started and killed by the test).

use sdn_controller::etcd_server::EtcdServer;
use sdn_controller::store::conformance;
use sdn_controller::store::etcd::EtcdStore;

async fn store(server: &EtcdServer) -> EtcdStore {
    EtcdStore::connect(&[server.endpoint().to_string()])
        .await
        .expect("connect to the throwaway etcd")
}

#[tokio::test]
async fn conformance_on_etcd() {
    let server = EtcdServer::start();
    conformance::run_all(&store(&server).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_cas_on_etcd() {
    let server = EtcdServer::start();
    conformance::concurrent_cas(store(&server).await).await;
}

#[tokio::test]
async fn unreachable_etcd_is_a_clear_error() {
    let err = EtcdStore::connect(&["http://127.0.0.1:1".to_string()])
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable);
    let msg = err.to_string();
    assert!(
        msg.contains("etcd unreachable at http://127.0.0.1:1"),
        "{msg}"
    );
    assert!(msg.contains("--etcd-endpoints"), "{msg}");
}
