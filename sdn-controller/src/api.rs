//! The `sdn.v1.Controller` gRPC service: a thin shell over the [`Registry`] and the sync [`Hub`].
//!
//! Each method checks the caller's right (from its client certificate, when the server runs with
//! mTLS), converts the request, calls the registry, converts the answer; errors become gRPC statuses
//! through the one `From<Error> for tonic::Status`. A mutation with `wait` returns once every node it
//! concerns acknowledged its revision, or fails with DEADLINE_EXCEEDED naming the laggards (the change
//! stays committed); `GetConvergence` answers the receipt of any object.

use std::time::{Duration, Instant};

use sdn_proto::v1 as pb;
use sdn_proto::v1::controller_server::Controller;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::codec::{self, Object};
use crate::error::Result;
use crate::identity::{self, Access};
use crate::metrics::Metrics;
use crate::model::*;
use crate::registry::Registry;
use crate::store::Store;
use crate::sync::Hub;
use crate::validation;

/// The orchestrator API service over a store.
#[derive(Debug, Clone)]
pub struct ApiService<S> {
    registry: Registry<S>,
    hub: Option<Hub<S>>,
    metrics: Metrics,
    authenticate: bool,
}

impl<S: Store> ApiService<S> {
    /// A service over `store` alone: no receipts, and a request with `wait` is refused (tests).
    pub fn new(store: S) -> ApiService<S> {
        ApiService {
            registry: Registry::new(store),
            hub: None,
            metrics: Metrics::new(),
            authenticate: false,
        }
    }

    /// The full service: receipts and waits from `hub`; with `authenticate`, rights from the client
    /// certificate.
    pub fn with_sync(hub: Hub<S>, metrics: Metrics, authenticate: bool) -> ApiService<S> {
        ApiService {
            registry: hub.registry().clone(),
            hub: Some(hub),
            metrics,
            authenticate,
        }
    }

    /// The registry behind the service.
    pub fn registry(&self) -> &Registry<S> {
        &self.registry
    }

    /// A tonic server for this service.
    pub fn into_server(self) -> pb::controller_server::ControllerServer<Self> {
        pb::controller_server::ControllerServer::new(self)
    }

    /// Parses a request's wait (before anything is written).
    fn wait_for(&self, wait: Option<&pb::Wait>) -> Result<Option<Duration>, Status> {
        let timeout = validation::parse_wait("wait", wait)?;
        if timeout.is_some() && self.hub.is_none() {
            return Err(Status::unimplemented(
                "this API service runs without the sync service; omit wait",
            ));
        }
        Ok(timeout)
    }

    /// Waits for convergence when asked; the receipt goes into the response.
    async fn converge(
        &self,
        timeout: Option<Duration>,
        kind: Kind,
        id: Uuid,
        revision: Revision,
    ) -> Result<Option<pb::ConvergenceReceipt>> {
        match (timeout, &self.hub) {
            (Some(t), Some(hub)) => {
                let receipt = hub.wait(kind, id, revision, t).await?;
                Ok(Some(codec::receipt_to_wire(&receipt)))
            }
            _ => Ok(None),
        }
    }

    /// Runs one call: checks the caller's right, records its outcome and latency.
    async fn call<R, T>(
        &self,
        method: &'static str,
        access: Access,
        request: &Request<R>,
        fut: impl std::future::Future<Output = Result<T, Status>>,
    ) -> Result<Response<T>, Status> {
        let started = Instant::now();
        let result = if self.authenticate {
            match identity::of_request(request).and_then(|who| identity::authorize(&who, access)) {
                Ok(()) => fut.await,
                Err(err) => Err(err.into()),
            }
        } else {
            fut.await
        };
        let elapsed = started.elapsed();
        let code = result.as_ref().err().map_or(tonic::Code::Ok, Status::code);
        self.metrics.api_call(method, code, elapsed.as_secs_f64());
        let elapsed_us = elapsed.as_micros() as u64;
        match result {
            Ok(v) => {
                tracing::debug!(method, elapsed_us, "ok");
                Ok(Response::new(v))
            }
            Err(status) => {
                tracing::info!(method, elapsed_us, code = ?status.code(), message = status.message(), "refused");
                Err(status)
            }
        }
    }

    async fn delete_with<T: Object + crate::registry::Footprint>(
        &self,
        method: &'static str,
        request: Request<pb::DeleteRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        self.call(method, Access::Write, &request, async {
            let req = request.get_ref();
            let wait = self.wait_for(req.wait.as_ref())?;
            let id = validation::parse_id("id", &req.id)?;
            let revision = if T::KIND == Kind::Port {
                self.registry.delete_port(&req.id, req.revision).await?
            } else {
                self.registry.delete::<T>(&req.id, req.revision).await?
            };
            let receipt = self.converge(wait, T::KIND, id, revision).await?;
            Ok(pb::DeleteResponse { revision, receipt })
        })
        .await
    }
}

#[tonic::async_trait]
impl<S: Store> Controller for ApiService<S> {
    async fn create_node(
        &self,
        request: Request<pb::CreateNodeRequest>,
    ) -> Result<Response<pb::NodeResponse>, Status> {
        self.call("CreateNode", Access::Write, &request, async {
            let node = self.registry.create_node(request.get_ref()).await?;
            Ok(pb::NodeResponse {
                node: Some(node.to_wire()),
            })
        })
        .await
    }

    async fn get_node(
        &self,
        request: Request<pb::GetRequest>,
    ) -> Result<Response<pb::NodeResponse>, Status> {
        self.call("GetNode", Access::Read, &request, async {
            let node: Node = self.registry.get(&request.get_ref().id).await?;
            Ok(pb::NodeResponse {
                node: Some(node.to_wire()),
            })
        })
        .await
    }

    async fn list_nodes(
        &self,
        request: Request<pb::ListRequest>,
    ) -> Result<Response<pb::ListNodesResponse>, Status> {
        self.call("ListNodes", Access::Read, &request, async {
            let page = self.registry.list::<Node>(request.get_ref()).await?;
            Ok(pb::ListNodesResponse {
                nodes: page.items.iter().map(Object::to_wire).collect(),
                next_page_token: page.next_page_token,
                revision: page.revision,
            })
        })
        .await
    }

    async fn update_node(
        &self,
        request: Request<pb::UpdateNodeRequest>,
    ) -> Result<Response<pb::NodeResponse>, Status> {
        self.call("UpdateNode", Access::Write, &request, async {
            let node = self.registry.update_node(request.get_ref()).await?;
            Ok(pb::NodeResponse {
                node: Some(node.to_wire()),
            })
        })
        .await
    }

    async fn delete_node(
        &self,
        request: Request<pb::DeleteRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        self.delete_with::<Node>("DeleteNode", request).await
    }

    async fn create_network(
        &self,
        request: Request<pb::CreateNetworkRequest>,
    ) -> Result<Response<pb::NetworkResponse>, Status> {
        self.call("CreateNetwork", Access::Write, &request, async {
            let net = self.registry.create_network(request.get_ref()).await?;
            Ok(pb::NetworkResponse {
                network: Some(net.to_wire()),
                receipt: None,
            })
        })
        .await
    }

    async fn get_network(
        &self,
        request: Request<pb::GetRequest>,
    ) -> Result<Response<pb::NetworkResponse>, Status> {
        self.call("GetNetwork", Access::Read, &request, async {
            let net: Network = self.registry.get(&request.get_ref().id).await?;
            Ok(pb::NetworkResponse {
                network: Some(net.to_wire()),
                receipt: None,
            })
        })
        .await
    }

    async fn list_networks(
        &self,
        request: Request<pb::ListRequest>,
    ) -> Result<Response<pb::ListNetworksResponse>, Status> {
        self.call("ListNetworks", Access::Read, &request, async {
            let page = self.registry.list::<Network>(request.get_ref()).await?;
            Ok(pb::ListNetworksResponse {
                networks: page.items.iter().map(Object::to_wire).collect(),
                next_page_token: page.next_page_token,
                revision: page.revision,
            })
        })
        .await
    }

    async fn update_network(
        &self,
        request: Request<pb::UpdateNetworkRequest>,
    ) -> Result<Response<pb::NetworkResponse>, Status> {
        self.call("UpdateNetwork", Access::Write, &request, async {
            let req = request.get_ref();
            let wait = self.wait_for(req.wait.as_ref())?;
            let net = self.registry.update_network(req).await?;
            let receipt = self
                .converge(wait, Kind::Network, net.meta.id, net.meta.revision)
                .await?;
            Ok(pb::NetworkResponse {
                network: Some(net.to_wire()),
                receipt,
            })
        })
        .await
    }

    async fn delete_network(
        &self,
        request: Request<pb::DeleteRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        self.delete_with::<Network>("DeleteNetwork", request).await
    }

    async fn create_port(
        &self,
        request: Request<pb::CreatePortRequest>,
    ) -> Result<Response<pb::PortResponse>, Status> {
        self.call("CreatePort", Access::Write, &request, async {
            let req = request.get_ref();
            let wait = self.wait_for(req.wait.as_ref())?;
            let port = self.registry.create_port(req).await?;
            let receipt = self
                .converge(wait, Kind::Port, port.meta.id, port.meta.revision)
                .await?;
            Ok(pb::PortResponse {
                port: Some(port.to_wire()),
                receipt,
            })
        })
        .await
    }

    async fn get_port(
        &self,
        request: Request<pb::GetRequest>,
    ) -> Result<Response<pb::PortResponse>, Status> {
        self.call("GetPort", Access::Read, &request, async {
            let port: Port = self.registry.get(&request.get_ref().id).await?;
            Ok(pb::PortResponse {
                port: Some(port.to_wire()),
                receipt: None,
            })
        })
        .await
    }

    async fn list_ports(
        &self,
        request: Request<pb::ListRequest>,
    ) -> Result<Response<pb::ListPortsResponse>, Status> {
        self.call("ListPorts", Access::Read, &request, async {
            let page = self.registry.list_ports(request.get_ref()).await?;
            Ok(pb::ListPortsResponse {
                ports: page.items.iter().map(Object::to_wire).collect(),
                next_page_token: page.next_page_token,
                revision: page.revision,
            })
        })
        .await
    }

    async fn update_port(
        &self,
        request: Request<pb::UpdatePortRequest>,
    ) -> Result<Response<pb::PortResponse>, Status> {
        self.call("UpdatePort", Access::Write, &request, async {
            let req = request.get_ref();
            let wait = self.wait_for(req.wait.as_ref())?;
            let port = self.registry.update_port(req).await?;
            let receipt = self
                .converge(wait, Kind::Port, port.meta.id, port.meta.revision)
                .await?;
            Ok(pb::PortResponse {
                port: Some(port.to_wire()),
                receipt,
            })
        })
        .await
    }

    async fn delete_port(
        &self,
        request: Request<pb::DeleteRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        self.delete_with::<Port>("DeletePort", request).await
    }

    async fn create_security_group(
        &self,
        request: Request<pb::CreateSecurityGroupRequest>,
    ) -> Result<Response<pb::SecurityGroupResponse>, Status> {
        self.call("CreateSecurityGroup", Access::Write, &request, async {
            let g = self
                .registry
                .create_security_group(request.get_ref())
                .await?;
            Ok(pb::SecurityGroupResponse {
                group: Some(g.to_wire()),
                receipt: None,
            })
        })
        .await
    }

    async fn get_security_group(
        &self,
        request: Request<pb::GetRequest>,
    ) -> Result<Response<pb::SecurityGroupResponse>, Status> {
        self.call("GetSecurityGroup", Access::Read, &request, async {
            let g: SecurityGroup = self.registry.get(&request.get_ref().id).await?;
            Ok(pb::SecurityGroupResponse {
                group: Some(g.to_wire()),
                receipt: None,
            })
        })
        .await
    }

    async fn list_security_groups(
        &self,
        request: Request<pb::ListRequest>,
    ) -> Result<Response<pb::ListSecurityGroupsResponse>, Status> {
        self.call("ListSecurityGroups", Access::Read, &request, async {
            let page = self
                .registry
                .list::<SecurityGroup>(request.get_ref())
                .await?;
            Ok(pb::ListSecurityGroupsResponse {
                groups: page.items.iter().map(Object::to_wire).collect(),
                next_page_token: page.next_page_token,
                revision: page.revision,
            })
        })
        .await
    }

    async fn update_security_group(
        &self,
        request: Request<pb::UpdateSecurityGroupRequest>,
    ) -> Result<Response<pb::SecurityGroupResponse>, Status> {
        self.call("UpdateSecurityGroup", Access::Write, &request, async {
            let req = request.get_ref();
            let wait = self.wait_for(req.wait.as_ref())?;
            let g = self.registry.update_security_group(req).await?;
            let receipt = self
                .converge(wait, Kind::SecurityGroup, g.meta.id, g.meta.revision)
                .await?;
            Ok(pb::SecurityGroupResponse {
                group: Some(g.to_wire()),
                receipt,
            })
        })
        .await
    }

    async fn add_security_rules(
        &self,
        request: Request<pb::AddSecurityRulesRequest>,
    ) -> Result<Response<pb::SecurityGroupResponse>, Status> {
        self.call("AddSecurityRules", Access::Write, &request, async {
            let req = request.get_ref();
            let wait = self.wait_for(req.wait.as_ref())?;
            let g = self.registry.add_security_rules(req).await?;
            let receipt = self
                .converge(wait, Kind::SecurityGroup, g.meta.id, g.meta.revision)
                .await?;
            Ok(pb::SecurityGroupResponse {
                group: Some(g.to_wire()),
                receipt,
            })
        })
        .await
    }

    async fn remove_security_rules(
        &self,
        request: Request<pb::RemoveSecurityRulesRequest>,
    ) -> Result<Response<pb::SecurityGroupResponse>, Status> {
        self.call("RemoveSecurityRules", Access::Write, &request, async {
            let req = request.get_ref();
            let wait = self.wait_for(req.wait.as_ref())?;
            let g = self.registry.remove_security_rules(req).await?;
            let receipt = self
                .converge(wait, Kind::SecurityGroup, g.meta.id, g.meta.revision)
                .await?;
            Ok(pb::SecurityGroupResponse {
                group: Some(g.to_wire()),
                receipt,
            })
        })
        .await
    }

    async fn delete_security_group(
        &self,
        request: Request<pb::DeleteRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        self.delete_with::<SecurityGroup>("DeleteSecurityGroup", request)
            .await
    }

    async fn create_load_balancer(
        &self,
        request: Request<pb::CreateLoadBalancerRequest>,
    ) -> Result<Response<pb::LoadBalancerResponse>, Status> {
        self.call("CreateLoadBalancer", Access::Write, &request, async {
            let req = request.get_ref();
            let wait = self.wait_for(req.wait.as_ref())?;
            let lb = self.registry.create_load_balancer(req).await?;
            let receipt = self
                .converge(wait, Kind::LoadBalancer, lb.meta.id, lb.meta.revision)
                .await?;
            Ok(pb::LoadBalancerResponse {
                load_balancer: Some(lb.to_wire()),
                receipt,
            })
        })
        .await
    }

    async fn get_load_balancer(
        &self,
        request: Request<pb::GetRequest>,
    ) -> Result<Response<pb::LoadBalancerResponse>, Status> {
        self.call("GetLoadBalancer", Access::Read, &request, async {
            let lb: LoadBalancer = self.registry.get(&request.get_ref().id).await?;
            Ok(pb::LoadBalancerResponse {
                load_balancer: Some(lb.to_wire()),
                receipt: None,
            })
        })
        .await
    }

    async fn list_load_balancers(
        &self,
        request: Request<pb::ListRequest>,
    ) -> Result<Response<pb::ListLoadBalancersResponse>, Status> {
        self.call("ListLoadBalancers", Access::Read, &request, async {
            let page = self
                .registry
                .list::<LoadBalancer>(request.get_ref())
                .await?;
            Ok(pb::ListLoadBalancersResponse {
                load_balancers: page.items.iter().map(Object::to_wire).collect(),
                next_page_token: page.next_page_token,
                revision: page.revision,
            })
        })
        .await
    }

    async fn update_load_balancer(
        &self,
        request: Request<pb::UpdateLoadBalancerRequest>,
    ) -> Result<Response<pb::LoadBalancerResponse>, Status> {
        self.call("UpdateLoadBalancer", Access::Write, &request, async {
            let req = request.get_ref();
            let wait = self.wait_for(req.wait.as_ref())?;
            let lb = self.registry.update_load_balancer(req).await?;
            let receipt = self
                .converge(wait, Kind::LoadBalancer, lb.meta.id, lb.meta.revision)
                .await?;
            Ok(pb::LoadBalancerResponse {
                load_balancer: Some(lb.to_wire()),
                receipt,
            })
        })
        .await
    }

    async fn delete_load_balancer(
        &self,
        request: Request<pb::DeleteRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        self.delete_with::<LoadBalancer>("DeleteLoadBalancer", request)
            .await
    }

    async fn get_convergence(
        &self,
        request: Request<pb::GetConvergenceRequest>,
    ) -> Result<Response<pb::ConvergenceReceipt>, Status> {
        self.call("GetConvergence", Access::Read, &request, async {
            let id = validation::parse_id("id", &request.get_ref().id)?;
            let Some(hub) = &self.hub else {
                return Err(Status::unimplemented(
                    "this API service runs without the sync service; no receipts",
                ));
            };
            let receipt = hub.receipt(id)?;
            Ok(codec::receipt_to_wire(&receipt))
        })
        .await
    }
}
