"""Test helpers by topic: app (the Chalice client, signed shop calls), stack (the stack on moto, template.yaml,
the moto lock), orders (payment facts into storage), money (commissions, balances, the audit), wechatpay
(keys, notifications, queue draining), payouts (the payout rig), leaderboard, abuse, e2e (`fenxiao local up`)."""
