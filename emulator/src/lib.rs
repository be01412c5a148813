//! A local stand-in for Microsoft Graph v1.0 and the Microsoft identity platform.
