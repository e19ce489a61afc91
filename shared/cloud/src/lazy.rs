use std::fmt;
use std::sync::{Arc, OnceLock};

use aws_config::SdkConfig;

/// An SDK client made on first use. The first client a process makes costs most of a millisecond of
/// the SDK's one-time setup (measured: about 0.9 ms for five, then 35 µs for each more), which a cold
/// start would pay for every client an instance holds, used or not (ADR 0022).
#[derive(Clone)]
pub(crate) struct LazyClient<C> {
    sdk: SdkConfig,
    make: Arc<dyn Fn(&SdkConfig) -> C + Send + Sync>,
    client: OnceLock<C>,
}

impl<C> LazyClient<C> {
    pub(crate) fn new(
        sdk: &SdkConfig,
        make: impl Fn(&SdkConfig) -> C + Send + Sync + 'static,
    ) -> Self {
        Self {
            sdk: sdk.clone(),
            make: Arc::new(make),
            client: OnceLock::new(),
        }
    }

    pub(crate) fn get(&self) -> &C {
        self.client.get_or_init(|| (self.make)(&self.sdk))
    }
}

impl<C> fmt::Debug for LazyClient<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazyClient")
            .field("made", &self.client.get().is_some())
            .finish_non_exhaustive()
    }
}
