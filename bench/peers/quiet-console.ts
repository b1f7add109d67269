// Imported first by the peer server, so oidc-provider's notices printed at import time (such as
// "Unsupported runtime") and at start-up (dev adapter, "you SHOULD change") are dropped.
// console.error stays, for real server errors.
console.info = () => {};
console.warn = () => {};
