//! Microsoft Graph's `synchronizationSchema`.
