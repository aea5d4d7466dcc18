//! Network load balancer logic shared by the controller and the agent (issue "Network load balancer").
//!
//! It will own: weighted Maglev table generation, the health checker (tcp, http), and the service
//! model. Nothing is implemented yet.
