/** An environment's name: it names a directory, a tun device and a docker context, so it stays short and plain. */
export const ENV_NAME = /^[a-z0-9][a-z0-9_-]{0,11}$/;
