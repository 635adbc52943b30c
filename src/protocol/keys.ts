/** Task UUID ↔ the bytes32 key TaskEscrow uses: the 16 UUID bytes, right-padded with zeros. */
export function taskKey(taskId: string): string {
  return `0x${taskId.replace(/-/g, "").toLowerCase().padEnd(64, "0")}`;
}

/** The task UUID of a TaskEscrow bytes32 key (inverse of {@link taskKey}). */
export function taskIdFromKey(key: string): string {
  const h = key.replace(/^0x/, "").slice(0, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
