"use client";
import { AppShell } from "../../src/components/app-shell";
import { Card } from "../../src/components/ui";
import { EventsFeed } from "../../src/components/events-feed";

export default function EventsPage() {
  return (
    <AppShell>
      <div className="space-y-4">
        <h1 className="text-2xl font-semibold">Events</h1>
        <Card title="Across the fleet, live">
          <EventsFeed />
        </Card>
      </div>
    </AppShell>
  );
}
