// Mirrors "Pipeline Execution > Starting and Ending Executions" (Scala object
// PipelineExecutionExample) of the Pipeline Management guide, in Java with the same JDK HttpClient
// calls. play-json is replaced by JSON strings and a regex for the answer's "id"; the base URL
// comes from args[0] and each answer's status is printed as status=NNN.
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public class PipelineExecutionExample {
    static int id(String json) {
        Matcher m = Pattern.compile("\"id\"\\s*:\\s*(\\d+)").matcher(json);
        if (!m.find()) throw new IllegalStateException("no \"id\" in answer: " + json);
        return Integer.parseInt(m.group(1));
    }

    public static void main(String[] args) throws Exception {
        String base = args.length > 0 ? args[0] : "http://localhost:8000";
        HttpClient client = HttpClient.newHttpClient();

        // Start execution
        String startJson = "{\"pipeline_id\": 1, \"start_date\": \"2024-01-01T10:00:00Z\"}";
        HttpRequest startRequest = HttpRequest.newBuilder()
            .uri(URI.create(base + "/start_pipeline_execution"))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(startJson))
            .build();
        HttpResponse<String> startResponse = client.send(startRequest,
            HttpResponse.BodyHandlers.ofString());
        System.out.println("status=" + startResponse.statusCode());
        int executionId = id(startResponse.body());
        System.out.println("Execution started: " + executionId);

        // Your pipeline code executes here

        // End execution
        String endJson = "{\"id\": " + executionId + ","
            + " \"end_date\": \"2024-01-01T10:05:00Z\","
            + " \"completed_successfully\": true,"
            + " \"total_rows\": 10000,"
            + " \"inserts\": 8000,"
            + " \"updates\": 2000,"
            + " \"soft_deletes\": 0}";
        HttpRequest endRequest = HttpRequest.newBuilder()
            .uri(URI.create(base + "/end_pipeline_execution"))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(endJson))
            .build();
        HttpResponse<String> endResponse = client.send(endRequest,
            HttpResponse.BodyHandlers.ofString());
        System.out.println("status=" + endResponse.statusCode());
        System.out.println(endResponse.body());
    }
}
