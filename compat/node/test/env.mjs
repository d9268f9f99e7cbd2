// Where the clients connect (set by scripts/compat.sh).
export const HOST = process.env.TESSERA_HOST || '127.0.0.1';
export const PORT = Number(process.env.TESSERA_PORT || 15306);
export const USER = process.env.TESSERA_USER || 'root';
export const PASSWORD = process.env.TESSERA_PASSWORD || '';
export const UNSHARDED = process.env.TESSERA_UNSHARDED || 'commerce';
export const SHARDED = process.env.TESSERA_SHARDED || 'customer';
