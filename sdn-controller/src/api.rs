//! The `sdn.v1.Controller` gRPC service: a thin shell over the [`Registry`].
//!
//! Each method converts the request, calls the registry, converts the answer; errors become gRPC
//! statuses through the one `From<Error> for tonic::Status`. Convergence waits and receipts need the
//! sync service, which is not built yet: a request that asks to wait is refused with UNIMPLEMENTED
//! before anything is written, and `GetConvergence` answers UNIMPLEMENTED.

use std::time::Instant;

use sdn_proto::v1 as pb;
use sdn_proto::v1::controller_server::Controller;
use tonic::{Request, Response, Status};

use crate::codec::Object;
use crate::error::Result;
use crate::model::*;
use crate::registry::Registry;
use crate::store::Store;
use crate::validation;

/// The orchestrator API service over a store.
#[derive(Debug, Clone)]
pub struct ApiService<S> {
    registry: Registry<S>,
}

impl<S: Store> ApiService<S> {
    /// A service over `store`.
    pub fn new(store: S) -> ApiService<S> {
        ApiService {
            registry: Registry::new(store),
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
}

/// Refuses a wait (before any write) until the sync service exists.
fn no_wait(wait: Option<&pb::Wait>) -> Result<(), Status> {
    if validation::parse_wait("wait", wait)?.is_some() {
        return Err(Status::unimplemented(
            "waiting for convergence needs the agent sync service, not built yet; omit wait",
        ));
    }
    Ok(())
}

/// Runs one call, logging its outcome and latency.
async fn call<T>(
    method: &'static str,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<Response<T>, Status> {
    let started = Instant::now();
    let result = fut.await;
    let elapsed_us = started.elapsed().as_micros() as u64;
    match result {
        Ok(v) => {
            tracing::debug!(method, elapsed_us, "ok");
            Ok(Response::new(v))
        }
        Err(err) => {
            let status = Status::from(err);
            tracing::info!(method, elapsed_us, code = ?status.code(), message = status.message(), "refused");
            Err(status)
        }
    }
}

fn delete_response(revision: Revision) -> pb::DeleteResponse {
    pb::DeleteResponse {
        revision,
        receipt: None,
    }
}

#[tonic::async_trait]
impl<S: Store> Controller for ApiService<S> {
    async fn create_node(
        &self,
        request: Request<pb::CreateNodeRequest>,
    ) -> Result<Response<pb::NodeResponse>, Status> {
        call("CreateNode", async {
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
        call("GetNode", async {
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
        call("ListNodes", async {
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
        call("UpdateNode", async {
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
        let req = request.get_ref();
        no_wait(req.wait.as_ref())?;
        call("DeleteNode", async {
            let r = self.registry.delete::<Node>(&req.id, req.revision).await?;
            Ok(delete_response(r))
        })
        .await
    }

    async fn create_network(
        &self,
        request: Request<pb::CreateNetworkRequest>,
    ) -> Result<Response<pb::NetworkResponse>, Status> {
        call("CreateNetwork", async {
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
        call("GetNetwork", async {
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
        call("ListNetworks", async {
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
        let req = request.get_ref();
        no_wait(req.wait.as_ref())?;
        call("UpdateNetwork", async {
            let net = self.registry.update_network(req).await?;
            Ok(pb::NetworkResponse {
                network: Some(net.to_wire()),
                receipt: None,
            })
        })
        .await
    }

    async fn delete_network(
        &self,
        request: Request<pb::DeleteRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        let req = request.get_ref();
        no_wait(req.wait.as_ref())?;
        call("DeleteNetwork", async {
            let r = self
                .registry
                .delete::<Network>(&req.id, req.revision)
                .await?;
            Ok(delete_response(r))
        })
        .await
    }

    async fn create_port(
        &self,
        request: Request<pb::CreatePortRequest>,
    ) -> Result<Response<pb::PortResponse>, Status> {
        let req = request.get_ref();
        no_wait(req.wait.as_ref())?;
        call("CreatePort", async {
            let port = self.registry.create_port(req).await?;
            Ok(pb::PortResponse {
                port: Some(port.to_wire()),
                receipt: None,
            })
        })
        .await
    }

    async fn get_port(
        &self,
        request: Request<pb::GetRequest>,
    ) -> Result<Response<pb::PortResponse>, Status> {
        call("GetPort", async {
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
        call("ListPorts", async {
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
        let req = request.get_ref();
        no_wait(req.wait.as_ref())?;
        call("UpdatePort", async {
            let port = self.registry.update_port(req).await?;
            Ok(pb::PortResponse {
                port: Some(port.to_wire()),
                receipt: None,
            })
        })
        .await
    }

    async fn delete_port(
        &self,
        request: Request<pb::DeleteRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        let req = request.get_ref();
        no_wait(req.wait.as_ref())?;
        call("DeletePort", async {
            let r = self.registry.delete::<Port>(&req.id, req.revision).await?;
            Ok(delete_response(r))
        })
        .await
    }

    async fn create_security_group(
        &self,
        request: Request<pb::CreateSecurityGroupRequest>,
    ) -> Result<Response<pb::SecurityGroupResponse>, Status> {
        call("CreateSecurityGroup", async {
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
        call("GetSecurityGroup", async {
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
        call("ListSecurityGroups", async {
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
        let req = request.get_ref();
        no_wait(req.wait.as_ref())?;
        call("UpdateSecurityGroup", async {
            let g = self.registry.update_security_group(req).await?;
            Ok(pb::SecurityGroupResponse {
                group: Some(g.to_wire()),
                receipt: None,
            })
        })
        .await
    }

    async fn add_security_rules(
        &self,
        request: Request<pb::AddSecurityRulesRequest>,
    ) -> Result<Response<pb::SecurityGroupResponse>, Status> {
        let req = request.get_ref();
        no_wait(req.wait.as_ref())?;
        call("AddSecurityRules", async {
            let g = self.registry.add_security_rules(req).await?;
            Ok(pb::SecurityGroupResponse {
                group: Some(g.to_wire()),
                receipt: None,
            })
        })
        .await
    }

    async fn remove_security_rules(
        &self,
        request: Request<pb::RemoveSecurityRulesRequest>,
    ) -> Result<Response<pb::SecurityGroupResponse>, Status> {
        let req = request.get_ref();
        no_wait(req.wait.as_ref())?;
        call("RemoveSecurityRules", async {
            let g = self.registry.remove_security_rules(req).await?;
            Ok(pb::SecurityGroupResponse {
                group: Some(g.to_wire()),
                receipt: None,
            })
        })
        .await
    }

    async fn delete_security_group(
        &self,
        request: Request<pb::DeleteRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        let req = request.get_ref();
        no_wait(req.wait.as_ref())?;
        call("DeleteSecurityGroup", async {
            let r = self
                .registry
                .delete::<SecurityGroup>(&req.id, req.revision)
                .await?;
            Ok(delete_response(r))
        })
        .await
    }

    async fn create_load_balancer(
        &self,
        request: Request<pb::CreateLoadBalancerRequest>,
    ) -> Result<Response<pb::LoadBalancerResponse>, Status> {
        let req = request.get_ref();
        no_wait(req.wait.as_ref())?;
        call("CreateLoadBalancer", async {
            let lb = self.registry.create_load_balancer(req).await?;
            Ok(pb::LoadBalancerResponse {
                load_balancer: Some(lb.to_wire()),
                receipt: None,
            })
        })
        .await
    }

    async fn get_load_balancer(
        &self,
        request: Request<pb::GetRequest>,
    ) -> Result<Response<pb::LoadBalancerResponse>, Status> {
        call("GetLoadBalancer", async {
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
        call("ListLoadBalancers", async {
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
        let req = request.get_ref();
        no_wait(req.wait.as_ref())?;
        call("UpdateLoadBalancer", async {
            let lb = self.registry.update_load_balancer(req).await?;
            Ok(pb::LoadBalancerResponse {
                load_balancer: Some(lb.to_wire()),
                receipt: None,
            })
        })
        .await
    }

    async fn delete_load_balancer(
        &self,
        request: Request<pb::DeleteRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        let req = request.get_ref();
        no_wait(req.wait.as_ref())?;
        call("DeleteLoadBalancer", async {
            let r = self
                .registry
                .delete::<LoadBalancer>(&req.id, req.revision)
                .await?;
            Ok(delete_response(r))
        })
        .await
    }

    async fn get_convergence(
        &self,
        _request: Request<pb::GetConvergenceRequest>,
    ) -> Result<Response<pb::ConvergenceReceipt>, Status> {
        Err(Status::unimplemented(
            "convergence receipts need the agent sync service, not built yet",
        ))
    }
}
