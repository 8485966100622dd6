//! One provider's people and sites for a round of work (alert checks, emails): its customers and
//! which sites belong to whom, read once per round instead of once per site or email.

use std::collections::HashMap;
use std::sync::Arc;

use crate::domain::{Customer, CustomerId, Gateway, GatewayId, Provider};
use crate::store::{Store, StoreError, TenantStore};
use chrono_tz::Tz;

/// A provider, its store handle, its customers and their sites.
pub struct Roster {
    /// The provider.
    pub provider: Provider,
    /// Its namespace.
    pub tenant: Arc<dyn TenantStore>,
    customers: HashMap<CustomerId, Customer>,
    sites: HashMap<CustomerId, Vec<Gateway>>,
    gateways: Vec<Gateway>,
}

impl Roster {
    /// Reads the provider's customers and gateways.
    pub async fn load(store: &dyn Store, provider: Provider) -> Result<Self, StoreError> {
        let tenant = store.tenant(&provider.slug).await?;
        let customers: HashMap<CustomerId, Customer> =
            tenant.customers().await?.into_iter().map(|c| (c.id, c)).collect();
        let gateways = tenant.gateways().await?;
        let mut sites: HashMap<CustomerId, Vec<Gateway>> = HashMap::new();
        for gateway in &gateways {
            if let Some(customer) = gateway.customer
                && gateway.active
            {
                sites.entry(customer).or_default().push(gateway.clone());
            }
        }
        Ok(Self { provider, tenant, customers, sites, gateways })
    }

    /// Customers in a stable order.
    pub fn customers(&self) -> Vec<&Customer> {
        let mut all: Vec<&Customer> = self.customers.values().collect();
        all.sort_by_key(|c| c.id);
        all
    }

    /// One customer.
    pub fn customer(&self, id: CustomerId) -> Option<&Customer> {
        self.customers.get(&id)
    }

    /// A customer's active sites.
    pub fn sites(&self, id: CustomerId) -> &[Gateway] {
        self.sites.get(&id).map_or(&[], Vec::as_slice)
    }

    /// Every gateway of the provider.
    pub fn gateways(&self) -> &[Gateway] {
        &self.gateways
    }

    /// A site's name, or its gateway id when unknown.
    pub fn site_name(&self, gateway: &GatewayId) -> String {
        self.gateways
            .iter()
            .find(|g| &g.id == gateway)
            .map_or_else(|| gateway.to_string(), |g| g.site_name.clone())
    }

    /// The timezone a site's day is read in: its customer's, else the provider's.
    pub fn timezone_of(&self, gateway: &Gateway) -> Tz {
        let customer = gateway.customer.and_then(|c| self.customers.get(&c));
        crate::reports::site_timezone(customer, &self.provider)
    }
}
