/**
 * tau2-bench's agent tools per domain (sierra-research/tau2-bench; the orchestrator also gets
 * `call_expert`): one list for the plain generator (taskset.ts TAU2_DOMAINS) and the workload
 * profiles (profiles/).
 */
export const TAU2_TOOLS = {
  retail: [
    'find_user_id_by_email',
    'find_user_id_by_name_zip',
    'get_user_details',
    'get_order_details',
    'get_product_details',
    'list_all_product_types',
    'cancel_pending_order',
    'modify_pending_order_items',
    'modify_pending_order_address',
    'return_delivered_order_items',
    'exchange_delivered_order_items',
    'transfer_to_human_agents',
  ],
  telecom: [
    'get_customer_by_phone',
    'get_customer_by_id',
    'get_details_by_id',
    'get_bills_for_customer',
    'suspend_line',
    'resume_line',
    'enable_roaming',
    'disable_roaming',
    'refuel_data',
    'send_payment_request',
    'get_data_usage',
    'transfer_to_human_agents',
  ],
  airline: [
    'get_user_details',
    'get_reservation_details',
    'search_direct_flight',
    'search_onestop_flight',
    'list_all_airports',
    'book_reservation',
    'cancel_reservation',
    'update_reservation_flights',
    'update_reservation_baggages',
    'update_reservation_passengers',
    'send_certificate',
    'calculate',
  ],
};
