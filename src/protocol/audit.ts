/** Wire types of the operator audit (POST /v1/admin/audit), which `npm run demo` reports from. */

/** A task as the operator audit shows it (price in token base units). */
export type AuditTaskRow = {
  id: string; settlement: string; status: string; capability: string; agent: string | null; price: string | null; failovers: number; failure_reason: string | null;
  workflow_id: string | null; created_at: Date; awarded_at: Date | null; delivered_at: Date | null; accepted_at: Date | null; settled_at: Date | null;
};

/** A coordinator transaction (the outbox row). */
export type AuditOutboxRow = { kind: string; intent: string; payload: { taskId?: string; epoch?: number; vouchers?: { payer: string }[] }; gas_used: string | null; status: string };


/** What one audit call answers (amounts in token base units as decimal strings). */
export type AuditAnswer = {
  tasks?: AuditTaskRow[];
  failedOver?: { agent: string; tasks: number }[];
  outbox?: AuditOutboxRow[];
  openOutbox?: number;
  ledgerByAccount?: { account: string; amount: string }[];
  balances?: { account: string; token: string; balance: string }[];
  violations?: { kind: string; message: string }[];
  indexedBlock?: number | null;
};
